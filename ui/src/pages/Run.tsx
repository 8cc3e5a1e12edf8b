import { useEffect, useMemo, useState, type ReactNode } from "react";
import { enc, errorText, get } from "../api";
import { Chart, type XMode } from "../charts/Chart";
import { fetchSeries, lineOf, type SeriesData } from "../charts/series";
import { ErrorBox, KeyValues, Loading, StatusBadge } from "../components";
import { flatten, formatValue } from "../format";
import { useLoad } from "../hooks";
import { Link, paths, setQuery, useLocation } from "../router";
import { formatDuration, formatTime, runDuration, viewerZone } from "../time";
import type { Run } from "../wire";
import { ArtifactsPanel } from "./Artifacts";
import { LineagePanel } from "./Lineage";

const POLL_MS = 5000;

export function RunPage({ runId }: { runId: string }): ReactNode {
  const [tick, setTick] = useState(0);
  const { data: run, error } = useLoad((signal) => get<Run>(`/runs/${enc(runId)}`, signal), [runId, tick]);
  const running = run?.status === "running";
  useEffect(() => {
    if (!running) return;
    const timer = window.setInterval(() => setTick((t) => t + 1), POLL_MS);
    return () => window.clearInterval(timer);
  }, [running]);

  if (!run) {
    return (
      <main>
        <ErrorBox error={error} />
        {!error && <Loading what="the run" />}
      </main>
    );
  }
  return (
    <main>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to={paths.projects()}>Projects</Link> / <Link to={paths.project(run.project)}>{run.project}</Link> /{" "}
        <span>{run.name}</span>
      </nav>
      <h1>
        <span data-testid="run-name">{run.name}</span> <StatusBadge status={run.status} />
      </h1>
      {run.tags["runtrack.kind"] === "sweep" && (
        <p data-testid="sweep-link">
          This run is a sweep: <Link to={paths.sweep(run.id)}>its trials, history and analysis</Link>
        </p>
      )}
      {run.tags["runtrack.sweep"] && (
        <p data-testid="sweep-link">
          Trial {run.tags["runtrack.trial"] ?? ""} of <Link to={paths.sweep(run.tags["runtrack.sweep"])}>a sweep</Link>
          {run.tags["runtrack.trial_state"] ? ` (${run.tags["runtrack.trial_state"]})` : ""}
        </p>
      )}
      <Overview run={run} />
      <Section title="Metrics">
        <Metrics run={run} tick={tick} />
      </Section>
      <Section title="Config">
        <KeyValues
          rows={Object.entries(flatten(run.config)).map(([k, v]) => [k, <span className="mono">{formatValue(v)}</span>])}
          empty="no config recorded"
        />
      </Section>
      <Section title="Tags">
        <KeyValues rows={Object.entries(run.tags).map(([k, v]) => [k, v])} empty="no tags" />
      </Section>
      <Section title="Notes">
        {run.notes ? <p className="notes" data-testid="notes">{run.notes}</p> : <p className="muted">no notes</p>}
      </Section>
      <Section title="Provenance">
        <Provenance run={run} />
      </Section>
      <Section title="Artifacts">
        <ArtifactsPanel run={run} />
      </Section>
      <Section title="Lineage">
        <LineagePanel root={`run:${run.id}`} project={run.project} />
      </Section>
      <Section title="Console log">
        <Console runId={run.id} tick={tick} />
      </Section>
    </main>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }): ReactNode {
  const id = `sec-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

function Overview({ run }: { run: Run }): ReactNode {
  const rows: [string, ReactNode][] = [
    ["id", <span className="mono">{run.id}</span>],
    ["status", <StatusBadge status={run.status} />],
    ["user", run.user],
    ["host", run.host],
    ["started", <span data-testid="started">{formatTime(run.start_time)}</span>],
    ["ended", run.end_time ? formatTime(run.end_time) : "still running"],
    ["duration", formatDuration(runDuration(run.start_time, run.end_time))],
  ];
  if (run.group) rows.push(["group", run.group]);
  if (run.parent_id) rows.push(["parent", <Link to={paths.run(run.parent_id)}>{run.parent_id}</Link>]);
  if (run.error) rows.push(["error", <pre className="mono wrap">{run.error}</pre>]);
  return (
    <section aria-label="Overview">
      <KeyValues rows={rows} />
      <p className="muted small">Times in {viewerZone}.</p>
    </section>
  );
}

function Provenance({ run }: { run: Run }): ReactNode {
  const prov = run.provenance ?? {};
  const entries = Object.entries(prov);
  const inputs = run.inputs;
  return (
    <>
      {entries.length === 0 && <p className="muted">no provenance recorded</p>}
      {entries.map(([section, value]) => (
        <details key={section} open={section === "git" || section === "command"}>
          <summary>{section}</summary>
          {/* a long section scrolls: focusable, so that the keyboard can scroll it too */}
          <pre className="mono wrap" tabIndex={0}>
            {typeof value === "string" ? value : JSON.stringify(value, null, 2)}
          </pre>
        </details>
      ))}
      {inputs.length > 0 && (
        <details open>
          <summary>datasets used ({inputs.length})</summary>
          <pre className="mono wrap" tabIndex={0}>
            {JSON.stringify(inputs, null, 2)}
          </pre>
        </details>
      )}
    </>
  );
}

function Console({ runId, tick }: { runId: string; tick: number }): ReactNode {
  const { data, error } = useLoad((signal) => get<string>(`/runs/${enc(runId)}/console`, signal), [runId, tick]);
  if (error) return <ErrorBox error={error} />;
  if (data === null) return <Loading what="the log" />;
  if (!data) return <p className="muted">nothing captured</p>;
  const max = 200_000;
  const shown = data.length > max ? data.slice(data.length - max) : data;
  return (
    <>
      {data.length > max && <p className="muted">The last {max.toLocaleString()} characters of {data.length.toLocaleString()}.</p>}
      <pre className="console" data-testid="console" tabIndex={0}>
        {shown}
      </pre>
    </>
  );
}

function Metrics({ run, tick }: { run: Run; tick: number }): ReactNode {
  const url = useLocation();
  const xMode: XMode = url.searchParams.get("x") === "time" ? "time" : "step";
  const log = url.searchParams.get("log") === "1";
  const smoothing = Number(url.searchParams.get("smooth") ?? "0") || 0;
  const keys = useMemo(() => Object.keys(run.metrics).sort(), [run.metrics]);
  const [series, setSeries] = useState<Record<string, SeriesData>>({});
  const [zoomed, setZoomed] = useState<Record<string, SeriesData>>({});
  const [error, setError] = useState<string | null>(null);
  const keyList = keys.join("\u0000");

  useEffect(() => {
    const ctl = new AbortController();
    setError(null);
    fetchSeries(run.id, keyList ? keyList.split("\u0000") : [], xMode, undefined, ctl.signal).then(
      (s) => {
        setSeries(s);
        setZoomed({});
      },
      (e: unknown) => {
        if (!ctl.signal.aborted) setError(errorText(e));
      },
    );
    return () => ctl.abort();
  }, [run.id, keyList, xMode, tick]);

  const zoomTo = (key: string, min: number, max: number): void => {
    if (xMode !== "step") return; // time zoom stays client-side
    fetchSeries(run.id, [key], xMode, [min, max]).then(
      (s) => {
        const got = s[key];
        if (got) setZoomed((z) => ({ ...z, [key]: got }));
      },
      () => undefined,
    );
  };
  const unzoom = (key: string): void =>
    setZoomed((z) => Object.fromEntries(Object.entries(z).filter(([k]) => k !== key)));

  if (keys.length === 0) return <p className="muted">no metrics logged</p>;
  const groups = [
    ["", keys.filter((k) => !k.startsWith("system/"))],
    ["System", keys.filter((k) => k.startsWith("system/"))],
  ] as const;
  return (
    <>
      <div className="chart-controls" role="group" aria-label="Chart options">
        <label>
          x axis{" "}
          <select value={xMode} onChange={(e) => setQuery({ x: e.target.value === "time" ? "time" : null })}>
            <option value="step">step</option>
            <option value="time">time ({viewerZone})</option>
          </select>
        </label>
        <label>
          smoothing{" "}
          <input
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={smoothing}
            onChange={(e) => setQuery({ smooth: e.target.value === "0" ? null : e.target.value })}
          />{" "}
          <output>{smoothing.toFixed(2)}</output>
        </label>
        <label className="check">
          <input type="checkbox" checked={log} onChange={(e) => setQuery({ log: e.target.checked ? "1" : null })} /> log
          scale
        </label>
        <span className="muted small">Drag across a chart to zoom, double-click to reset.</span>
      </div>
      <ErrorBox error={error} />
      {groups.map(([name, group]) =>
        group.length === 0 ? null : (
          <div key={name}>
            {name && <h3>{name}</h3>}
            <div className="charts">
              {group.map((key) => {
                const s = zoomed[key] ?? series[key];
                return (
                  <figure key={key} className="chart-box">
                    {s ? (
                      <Chart
                        title={key}
                        lines={[lineOf(key, s)]}
                        xMode={xMode}
                        log={log}
                        smoothing={smoothing}
                        onZoom={(min, max) => zoomTo(key, min, max)}
                        onReset={() => unzoom(key)}
                        testId="chart"
                      />
                    ) : (
                      <Loading what={key} />
                    )}
                    {s && (
                      <figcaption className="muted small">
                        {s.total.toLocaleString()} points{s.exact ? "" : `, ${s.x.length.toLocaleString()} drawn (extremes kept)`}
                      </figcaption>
                    )}
                  </figure>
                );
              })}
            </div>
          </div>
        ),
      )}
    </>
  );
}
