import { useEffect, useMemo, useState, type ReactNode } from "react";
import { enc, errorText, get } from "../api";
import { Chart } from "../charts/Chart";
import { fetchSeries, lineOf, type SeriesData } from "../charts/series";
import { ErrorBox, Loading, StatusBadge } from "../components";
import { flatten, formatValue } from "../format";
import { useLoad } from "../hooks";
import { Link, paths } from "../router";
import { formatDuration, formatTime, runDuration } from "../time";
import type { Run } from "../wire";
import { CompareStats } from "./CompareStats";

const MAX_CHARTS = 24;

export function ComparePage({ ids }: { ids: string[] }): ReactNode {
  const key = ids.join(",");
  const { data: runs, error } = useLoad(
    (signal) => Promise.all(key.split(",").filter(Boolean).map((id) => get<Run>(`/runs/${enc(id)}`, signal))),
    [key],
  );
  if (ids.length < 2) {
    return (
      <main>
        <h1>Compare runs</h1>
        <p>Select two or more runs in a project's run table, then press Compare.</p>
      </main>
    );
  }
  if (!runs) {
    return (
      <main>
        <h1>Compare runs</h1>
        <ErrorBox error={error} />
        {!error && <Loading what="the runs" />}
      </main>
    );
  }
  return (
    <main className="wide">
      <h1>Compare {runs.length} runs</h1>
      <ConfigDiff runs={runs} />
      <CompareStats runs={runs} />
      <h2>Metrics</h2>
      <Curves runs={runs} />
    </main>
  );
}

function ConfigDiff({ runs }: { runs: Run[] }): ReactNode {
  const [onlyDiff, setOnlyDiff] = useState(true);
  const flats = useMemo(() => runs.map((r) => flatten(r.config)), [runs]);
  const keys = useMemo(() => [...new Set(flats.flatMap((f) => Object.keys(f)))].sort(), [flats]);
  const rows = keys.map((k) => {
    const values = flats.map((f) => (k in f ? formatValue(f[k]) : "—"));
    return { k, values, differs: new Set(values).size > 1 };
  });
  const shown = onlyDiff ? rows.filter((r) => r.differs) : rows;
  return (
    <section aria-labelledby="cmp-config">
      <h2 id="cmp-config">Config</h2>
      <label className="check">
        <input type="checkbox" checked={onlyDiff} onChange={(e) => setOnlyDiff(e.target.checked)} /> only differences (
        {rows.filter((r) => r.differs).length} of {rows.length})
      </label>
      <div className="scroll-x">
        <table className="grid compare" data-testid="config-diff">
          <thead>
            <tr>
              <th scope="col">key</th>
              {runs.map((r) => (
                <th scope="col" key={r.id}>
                  <Link to={paths.run(r.id)}>{r.name}</Link> <StatusBadge status={r.status} />
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">started</th>
              {runs.map((r) => (
                <td key={r.id}>{formatTime(r.start_time)}</td>
              ))}
            </tr>
            <tr>
              <th scope="row">duration</th>
              {runs.map((r) => (
                <td key={r.id}>{formatDuration(runDuration(r.start_time, r.end_time))}</td>
              ))}
            </tr>
            {shown.map((row) => (
              <tr key={row.k} className={row.differs ? "differs" : undefined}>
                <th scope="row" className="mono">
                  {row.k}
                </th>
                {row.values.map((v, i) => (
                  <td key={i} className="mono">
                    {v}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Curves({ runs }: { runs: Run[] }): ReactNode {
  const keys = useMemo(
    () => [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].filter((k) => !k.startsWith("system/")).sort(),
    [runs],
  );
  const [data, setData] = useState<Record<string, Record<string, SeriesData>> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [smoothing, setSmoothing] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    const shown = keys.slice(0, MAX_CHARTS);
    Promise.all(
      runs.map(async (r) => {
        const mine = shown.filter((k) => k in r.metrics);
        return [r.id, await fetchSeries(r.id, mine, "step", undefined, ctl.signal)] as const;
      }),
    ).then(
      (pairs) => setData(Object.fromEntries(pairs)),
      (e: unknown) => {
        if (!ctl.signal.aborted) setError(errorText(e));
      },
    );
    return () => ctl.abort();
  }, [runs, keys]);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <Loading what="metrics" />;
  if (keys.length === 0) return <p className="muted">no metrics logged</p>;
  return (
    <>
      <label>
        smoothing{" "}
        <input type="range" min={0} max={0.99} step={0.01} value={smoothing} onChange={(e) => setSmoothing(Number(e.target.value))} />{" "}
        <output>{smoothing.toFixed(2)}</output>
      </label>
      <div className="charts">
        {keys.slice(0, MAX_CHARTS).map((k) => (
          <figure key={k} className="chart-box">
            <Chart
              title={k}
              lines={runs.filter((r) => data[r.id]?.[k]).map((r) => lineOf(`${r.name} (${r.id})`, data[r.id]?.[k]))}
              xMode="step"
              log={false}
              smoothing={smoothing}
              testId="compare-chart"
            />
          </figure>
        ))}
      </div>
      {keys.length > MAX_CHARTS && <p className="muted">The first {MAX_CHARTS} of {keys.length} metrics.</p>}
    </>
  );
}
