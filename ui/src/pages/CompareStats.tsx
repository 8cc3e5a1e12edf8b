// The statistical comparison of runs (runtrack.compare, run by the server) and what
// differs between them beyond config: code, data, environment and packages, hardware,
// seeds. Everything is text.
import { useState, type ReactNode } from "react";
import { post } from "../api";
import { ErrorBox, Loading } from "../components";
import { formatNumber, formatValue } from "../format";
import { useLoad } from "../hooks";
import type { Run } from "../wire";

const PREDICTION_METRICS = ["auc", "accuracy", "logloss", "brier", "ece", "f1", "rmse", "mae", "r2"];

interface MapDiff {
  same: boolean;
  differing: Record<string, Record<string, unknown>>;
  recorded?: Record<string, boolean>;
}

interface Pair {
  a: string;
  b: string;
  a_name: string;
  b_name: string;
  delta: number | null;
  ci: [number | null, number | null] | null;
  p_value_adjusted: number | null;
  test: string | null;
  verdict: string;
  sentence: string;
}

interface RunMetric {
  run: string;
  value: number | null;
  ci: [number | null, number | null] | null;
  n: number | null;
  source: string;
}

interface Comparison {
  metric: string;
  higher_is_better: boolean;
  alpha: number;
  prediction_set: string | null;
  pairs: Pair[];
  metrics: RunMetric[];
  sentences: string[];
  notes: string[];
}

interface Answer {
  runs: { id: string; label: string }[];
  diffs: Record<string, unknown>;
  comparison: Comparison | null;
  unavailable: string | null;
  note: string | null;
}

function num(v: unknown): string {
  return typeof v === "number" ? formatNumber(v) : v === null || v === undefined ? "" : formatValue(v);
}

function interval(ci: [number | null, number | null] | null): string {
  if (!ci || typeof ci[0] !== "number" || typeof ci[1] !== "number") return "";
  return `[${formatNumber(ci[0])}, ${formatNumber(ci[1])}]`;
}

function pvalue(p: number | null): string {
  if (p === null) return "";
  return p < 0.001 ? "< 0.001" : formatNumber(p);
}

function isMapDiff(v: unknown): v is MapDiff {
  return typeof v === "object" && v !== null && "differing" in v && "same" in v;
}

export function CompareStats({ runs }: { runs: Run[] }): ReactNode {
  const [metric, setMetric] = useState("");
  const ids = runs.map((r) => r.id);
  const key = ids.join(",");
  const { data, error, loading } = useLoad(
    (signal) => post<Answer>("/compare", { runs: key.split(","), metric: metric || null }, signal),
    [key, metric],
  );
  const summaryKeys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].filter((k) => !k.startsWith("system/")).sort();
  const label = (id: string): string => data?.runs.find((r) => r.id === id)?.label ?? id;
  const c = data?.comparison ?? null;
  return (
    <>
      <section aria-labelledby="cmp-stats">
        <h2 id="cmp-stats">Statistical comparison</h2>
        <label htmlFor="cmp-metric">Metric</label>{" "}
        <select id="cmp-metric" value={metric} onChange={(e) => setMetric(e.target.value)}>
          <option value="">(automatic: the shared prediction set)</option>
          <optgroup label="summary metrics">
            {summaryKeys.map((k) => (
              <option key={`s-${k}`} value={k}>
                {k}
              </option>
            ))}
          </optgroup>
          <optgroup label="from predictions">
            {PREDICTION_METRICS.map((k) => (
              <option key={`p-${k}`} value={k}>
                {k}
              </option>
            ))}
          </optgroup>
        </select>
        <ErrorBox error={error} />
        {loading && <Loading what="the comparison" />}
        {data?.unavailable && (
          <p className="notice-warn" role="status" data-testid="compare-unavailable">
            {data.unavailable}
          </p>
        )}
        {data?.note && (
          <p className="muted" role="status" data-testid="compare-note">
            {data.note}
          </p>
        )}
        {c && !loading && (
          <div data-testid="compare-stats">
            <ul className="sentences">
              {c.sentences.map((s, i) => (
                <li key={i}>{s}</li>
              ))}
            </ul>
            <table className="grid">
              <caption className="muted small">
                {c.metric} ({c.higher_is_better ? "higher" : "lower"} is better){c.prediction_set ? `, on prediction set ${c.prediction_set}` : ", from the runs' summaries"}
                ; 95 % intervals
              </caption>
              <thead>
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col" className="num">
                    {c.metric}
                  </th>
                  <th scope="col">Interval</th>
                  <th scope="col" className="num">
                    n
                  </th>
                  <th scope="col">Source</th>
                </tr>
              </thead>
              <tbody>
                {c.metrics.map((m) => (
                  <tr key={m.run}>
                    <td>{label(m.run)}</td>
                    <td className="num mono">{num(m.value)}</td>
                    <td className="mono">{interval(m.ci)}</td>
                    <td className="num">{m.n ?? ""}</td>
                    <td>{m.source}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {c.pairs.length > 0 && (
              <table className="grid" data-testid="compare-pairs">
                <caption className="muted small">Pairs (p-values Holm-adjusted, α = {c.alpha})</caption>
                <thead>
                  <tr>
                    <th scope="col">A</th>
                    <th scope="col">B</th>
                    <th scope="col" className="num">
                      Δ (B − A)
                    </th>
                    <th scope="col">95 % CI</th>
                    <th scope="col" className="num">
                      p
                    </th>
                    <th scope="col">Test</th>
                    <th scope="col">Verdict</th>
                  </tr>
                </thead>
                <tbody>
                  {c.pairs.map((p) => (
                    <tr key={`${p.a}-${p.b}`}>
                      <td>{p.a_name}</td>
                      <td>{p.b_name}</td>
                      <td className="num mono">{num(p.delta)}</td>
                      <td className="mono">{interval(p.ci)}</td>
                      <td className="num mono">{pvalue(p.p_value_adjusted)}</td>
                      <td>{p.test ?? "—"}</td>
                      <td>{p.verdict.replace(/_/g, " ")}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {c.notes.some((n) => !c.sentences.includes(n)) && (
              <ul className="muted small">
                {c.notes.filter((n) => !c.sentences.includes(n)).map((n, i) => (
                  <li key={i}>{n}</li>
                ))}
              </ul>
            )}
          </div>
        )}
      </section>
      {data && <Differences diffs={data.diffs} label={label} ids={ids} />}
    </>
  );
}

const SECTIONS: [string, string][] = [
  ["code", "Code"],
  ["data", "Data"],
  ["environment.packages", "Packages"],
  ["environment.editable", "Editable installs"],
  ["environment.accelerators", "Accelerators"],
  ["environment.env", "Environment variables"],
  ["environment.determinism", "Determinism settings"],
  ["hardware", "Hardware"],
  ["seeds", "Seeds"],
];

function at(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function Differences({ diffs, label, ids }: { diffs: Record<string, unknown>; label: (id: string) => string; ids: string[] }): ReactNode {
  const python = at(diffs, "environment.python") as Record<string, unknown> | undefined;
  const platform = at(diffs, "environment.platform") as Record<string, unknown> | undefined;
  const recorded = at(diffs, "environment.packages.recorded") as Record<string, boolean> | undefined;
  return (
    <section aria-labelledby="cmp-env">
      <h2 id="cmp-env">Environment and other differences</h2>
      <div className="scroll-x">
        <table className="grid compare" data-testid="env-diff">
          <thead>
            <tr>
              <th scope="col">what</th>
              {ids.map((id) => (
                <th scope="col" key={id}>
                  {label(id)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr className={new Set(ids.map((id) => String(python?.[id] ?? ""))).size > 1 ? "differs" : undefined}>
              <th scope="row">Python</th>
              {ids.map((id) => (
                <td key={id} className="mono">
                  {num(python?.[id]) || "not recorded"}
                </td>
              ))}
            </tr>
            <tr className={new Set(ids.map((id) => String(platform?.[id] ?? ""))).size > 1 ? "differs" : undefined}>
              <th scope="row">Platform</th>
              {ids.map((id) => (
                <td key={id} className="mono">
                  {num(platform?.[id]) || "not recorded"}
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row">Packages recorded</th>
              {ids.map((id) => (
                <td key={id}>{recorded?.[id] ? "yes" : "no"}</td>
              ))}
            </tr>
            {SECTIONS.map(([path, title]) => {
              const sec = at(diffs, path);
              if (!isMapDiff(sec)) return null;
              const keys = Object.keys(sec.differing).sort();
              if (keys.length === 0) {
                return (
                  <tr key={path}>
                    <th scope="row">{title}</th>
                    <td colSpan={ids.length} className="muted">
                      same
                    </td>
                  </tr>
                );
              }
              return keys.map((k, i) => (
                <tr key={`${path}:${k}`} className="differs" data-section={path}>
                  <th scope="row">
                    {i === 0 ? `${title}: ` : ""}
                    <span className="mono">{k}</span>
                  </th>
                  {ids.map((id) => {
                    const v = sec.differing[k]?.[id];
                    return (
                      <td key={id} className="mono">
                        {v === null || v === undefined ? "—" : num(v)}
                      </td>
                    );
                  })}
                </tr>
              ));
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
