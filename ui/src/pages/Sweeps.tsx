// Sweeps: a project's sweeps, and one sweep's optimisation history, parallel coordinates,
// parameter importance and trials. Everything user-provided is rendered as text (SVG text
// nodes included).
import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import uPlot from "uplot";
import { enc, get } from "../api";
import { ErrorBox, Loading, StatusBadge } from "../components";
import { formatNumber, formatValue } from "../format";
import { useLoad } from "../hooks";
import { Link, paths, setQuery, useLocation } from "../router";
import { formatDuration, formatTime } from "../time";
import { num, type Sweep, type SweepAnalysis, type SweepObjective, type SweepTrial, type TrialState } from "../wire";

const STATES: TrialState[] = ["complete", "pruned", "failed", "running"];

function objectiveOf(s: Sweep): string {
  const ms = s.spec.metrics ?? [];
  return ms.map((m) => `${m.name} (${m.goal === "minimize" ? "min" : "max"})`).join(", ");
}

function Counts({ counts }: { counts: Record<string, number> }): ReactNode {
  const parts = STATES.filter((k) => (counts[k] ?? 0) > 0);
  if (parts.length === 0) return <span className="muted">no trials</span>;
  return (
    <span className="counts">
      {parts.map((k) => (
        <span key={k} className={`badge badge-${k}`} data-state={k} title={`${counts[k] ?? 0} ${k}`}>
          {counts[k] ?? 0} {k}
        </span>
      ))}
    </span>
  );
}

function bestText(s: Sweep): string {
  if (s.best?.values) return s.best.values.map((v) => formatValue(num(v) ?? v)).join(", ") + ` (trial ${s.best.number})`;
  if (s.pareto.length > 0) return `Pareto front of ${s.pareto.length}`;
  return "—";
}

export function SweepsPage({ project }: { project: string }): ReactNode {
  const { data, error } = useLoad((signal) => get<Sweep[]>(`/projects/${enc(project)}/sweeps`, signal), [project]);
  return (
    <main>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to={paths.projects()}>Projects</Link> / <Link to={paths.project(project)}>{project}</Link> / <span>Sweeps</span>
      </nav>
      <h1>Sweeps of {project}</h1>
      <ProjectTabs project={project} current="sweeps" />
      <ErrorBox error={error} />
      {!data && !error && <Loading what="sweeps" />}
      {data?.length === 0 && <p className="muted">No sweeps in this project yet (runtrack.sweep or runtrack sweep create).</p>}
      {data && data.length > 0 && (
        <table className="grid" data-testid="sweeps">
          <thead>
            <tr>
              <th scope="col">Sweep</th>
              <th scope="col">Status</th>
              <th scope="col">Objective</th>
              <th scope="col">Trials</th>
              <th scope="col">Best</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {data.map((s) => (
              <tr key={s.id} data-sweep={s.id}>
                <td>
                  <Link to={paths.sweep(s.id)}>{s.name}</Link>
                </td>
                <td>
                  <StatusBadge status={s.status} />
                </td>
                <td>{objectiveOf(s)}</td>
                <td>
                  <Counts counts={s.counts} />
                </td>
                <td className="mono">{bestText(s)}</td>
                <td>{formatTime(s.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

/** Links between a project's run table, sweeps and artifacts. */
export function ProjectTabs({ project, current }: { project: string; current: "runs" | "sweeps" | "artifacts" }): ReactNode {
  const tabs: [typeof current, string, string][] = [
    ["runs", "Runs", paths.project(project)],
    ["sweeps", "Sweeps", paths.sweeps(project)],
    ["artifacts", "Artifacts", paths.artifacts(project)],
  ];
  return (
    <nav className="tabs" aria-label="Project">
      {tabs.map(([key, label, to]) => (
        <Link key={key} to={to} aria-current={key === current ? "page" : undefined}>
          {label}
        </Link>
      ))}
    </nav>
  );
}

const POLL_MS = 5000;

export function SweepPage({ id }: { id: string }): ReactNode {
  const [tick, setTick] = useState(0);
  const sweep = useLoad((signal) => get<Sweep>(`/sweeps/${enc(id)}`, signal), [id, tick]);
  const trials = useLoad((signal) => get<SweepTrial[]>(`/sweeps/${enc(id)}/trials`, signal), [id, tick]);
  const analysis = useLoad((signal) => get<SweepAnalysis>(`/sweeps/${enc(id)}/analysis?importance=ped_anova`, signal), [id, tick]);
  const s = sweep.data;
  const a = analysis.data;
  const running = s?.status === "running";
  // several objectives: the charts follow the one chosen (in the URL), Pareto trials marked
  const objectives = a?.metrics ?? s?.spec.metrics ?? [];
  const asked = useLocation().searchParams.get("objective");
  const chosen = Math.max(0, objectives.findIndex((m) => m.name === asked));
  const front = s?.pareto;
  const pareto = useMemo(() => new Set((front ?? []).map((t) => t.number)), [front]);
  useEffect(() => {
    // a running sweep: its trials, history and analysis are asked for again every 5 s
    if (!running) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") setTick((t) => t + 1);
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [running]);
  return (
    <main>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to={paths.projects()}>Projects</Link> /{" "}
        {s ? (
          <>
            <Link to={paths.project(s.project)}>{s.project}</Link> / <Link to={paths.sweeps(s.project)}>Sweeps</Link> /{" "}
            <span>{s.name}</span>
          </>
        ) : (
          <span>{id}</span>
        )}
      </nav>
      <ErrorBox error={sweep.error ?? trials.error ?? analysis.error} />
      {!s && !sweep.error && <Loading what="the sweep" />}
      {s && (
        <>
          <h1>
            <span data-testid="sweep-name">{s.name}</span> <StatusBadge status={s.status} />
          </h1>
          <p>
            Objective <strong>{objectiveOf(s)}</strong> · method {String(s.spec.method ?? "auto")} · <Counts counts={s.counts} /> ·{" "}
            <Link to={paths.run(s.id)}>the sweep's run</Link>
          </p>
          <p data-testid="sweep-best">
            Best: <span className="mono">{bestText(s)}</span>
            {s.best && (
              <>
                {" "}
                · <Link to={paths.run(s.best.run_id)}>its run</Link>
              </>
            )}
            {s.stop_reason && <span className="muted"> · stopped: {s.stop_reason}</span>}
          </p>
        </>
      )}
      {s && s.pareto.length > 0 && (
        <>
          <h2>Pareto front</h2>
          <p className="muted small">
            The trials no other trial beats on every objective ({(s.spec.metrics ?? []).map((m) => `${m.name} ${m.goal}`).join(", ")}).
          </p>
          <Trials trials={s.pareto} objectives={s.spec.metrics ?? []} pareto={pareto} testId="pareto" />
        </>
      )}
      {a && (
        <>
          {objectives.length > 1 && (
            <p className="objective-choice">
              <label htmlFor="objective">Objective shown</label>{" "}
              <select id="objective" value={objectives[chosen]?.name ?? ""} onChange={(e) => setQuery({ objective: e.target.value })}>
                {objectives.map((m) => (
                  <option key={m.name} value={m.name}>
                    {m.name} ({m.goal === "minimize" ? "min" : "max"})
                  </option>
                ))}
              </select>{" "}
              <span className="muted small">in the history and the colours of the parallel coordinates</span>
            </p>
          )}
          <h2>Optimisation history{a.metrics.length > 1 ? ` of ${a.metrics[chosen]?.name ?? ""}` : ""}</h2>
          <History analysis={a} objective={chosen} pareto={pareto} />
          <h2>Parallel coordinates</h2>
          <Parallel analysis={a} spec={s?.spec.parameters ?? {}} objective={chosen} pareto={pareto} />
          <h2>Parameter importance</h2>
          <Importance analysis={a} />
        </>
      )}
      {!a && !analysis.error && <Loading what="the analysis" />}
      <h2>Trials</h2>
      {trials.data ? <Trials trials={trials.data} objectives={s?.spec.metrics ?? []} pareto={pareto} /> : !trials.error && <Loading what="trials" />}
    </main>
  );
}

// -- optimisation history (uPlot) -----------------------------------------------------

const COMPLETE = "#1f5fbf";
const PRUNED = "#d97706";
const FAILED = "#b91c1c";

const PARETO = "#7c3aed";

interface HistoryRow {
  number: number;
  state: TrialState;
  value: number | null;
  best: number | null;
}

/** The history of objective ``k``: the server's for the first, else from the trials' values. */
export function historyOf(analysis: SweepAnalysis, k: number): HistoryRow[] {
  const metric: SweepObjective | undefined = analysis.metrics[k];
  if (k === 0 || !metric) return analysis.history.map((r) => ({ number: r.number, state: r.state, value: num(r.value), best: num(r.best) }));
  const rows = new Map(analysis.parallel.map((r) => [r.number, r]));
  const sign = metric.goal === "minimize" ? 1 : -1;
  let best: number | null = null;
  return analysis.history.map((r) => {
    const value = r.state === "failed" ? null : num(rows.get(r.number)?.values[metric.name]);
    if (r.state === "complete" && value !== null && (best === null || sign * value < sign * best)) best = value;
    return { number: r.number, state: r.state, value, best };
  });
}

function History({ analysis, objective: k, pareto }: { analysis: SweepAnalysis; objective: number; pareto: Set<number> }): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  const objective = analysis.metrics[k]?.name ?? "value";
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const h = historyOf(analysis, k);
    const xs = h.map((r) => r.number);
    const pick = (state: TrialState): (number | null)[] => h.map((r) => (r.state === state ? r.value : null));
    const best = h.map((r) => r.best);
    const front = h.map((r) => (pareto.has(r.number) ? r.value : null));
    const failed = h.filter((r) => r.state === "failed").map((r) => r.number);
    const point = (stroke: string, fill: string, size: number): uPlot.Series.Points => ({ show: true, size, stroke, fill, width: 2 });
    const fmt = (_u: uPlot, v: number | null): string => (v === null ? "–" : formatNumber(v));
    const opts: uPlot.Options = {
      title: `${objective} per trial`,
      width: Math.max(300, el.clientWidth),
      height: 260,
      scales: { x: { time: false } },
      axes: [{ label: "trial" }, { size: 60, values: (_u, vals) => vals.map((v) => (v === null || v === undefined ? "" : formatNumber(v))) }],
      series: [
        { label: "trial" },
        { label: "complete", stroke: COMPLETE, paths: () => null, points: point(COMPLETE, COMPLETE, 8), value: fmt },
        { label: "pruned (last value)", stroke: PRUNED, paths: () => null, points: point(PRUNED, "#fff", 8), value: fmt },
        { label: "best so far", stroke: "#15803d", width: 2, paths: uPlot.paths.stepped?.({ align: 1 }), points: { show: false }, value: fmt },
        ...(pareto.size > 0
          ? [{ label: "Pareto front", stroke: PARETO, paths: () => null, points: point(PARETO, "rgba(0,0,0,0)", 16), value: fmt }]
          : []),
      ],
      hooks: {
        draw: [
          (u) => {
            // failed trials have no value: a red cross on the x axis
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = FAILED;
            ctx.lineWidth = 2 * uPlot.pxRatio;
            const y = u.bbox.top + u.bbox.height - 6 * uPlot.pxRatio;
            const r = 4 * uPlot.pxRatio;
            for (const n of failed) {
              const x = u.valToPos(n, "x", true);
              ctx.beginPath();
              ctx.moveTo(x - r, y - r);
              ctx.lineTo(x + r, y + r);
              ctx.moveTo(x + r, y - r);
              ctx.lineTo(x - r, y + r);
              ctx.stroke();
            }
            ctx.restore();
            el.dataset.drawn = String(Number(el.dataset.drawn ?? "0") + 1);
          },
        ],
      },
    };
    const data = [xs, pick("complete"), pick("pruned"), best, ...(pareto.size > 0 ? [front] : [])];
    el.dataset.objective = objective;
    const u = new uPlot(opts, data as uPlot.AlignedData, el);
    return () => {
      u.destroy();
      delete el.dataset.drawn;
    };
  }, [analysis, objective, k, pareto]);
  const failed = analysis.history.filter((r) => r.state === "failed").length;
  return (
    <figure className="chart-box">
      <div className="chart" ref={box} data-testid="sweep-history" />
      <figcaption className="muted small">
        Filled dots: complete trials; hollow orange dots: pruned trials (their last reported value); green steps: the best so
        far.{pareto.size > 0 && <> Purple rings: the trials of the Pareto front.</>}
        {failed > 0 && <> Red crosses on the axis: {failed} failed trial{failed === 1 ? "" : "s"} (no value).</>}
      </figcaption>
    </figure>
  );
}

// -- parallel coordinates (SVG of our own) ---------------------------------------------

interface Axis {
  name: string;
  kind: "num" | "cat";
  log: boolean;
  min: number;
  max: number;
  cats: string[];
}

function axisOf(name: string, values: unknown[], def: Record<string, unknown> | undefined): Axis {
  const nums = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  if (nums.length > 0 && nums.length === values.filter((v) => v !== undefined && v !== null).length) {
    const log = def?.distribution === "log_uniform" || def?.log === true;
    const tr = (v: number): number => (log && v > 0 ? Math.log10(v) : v);
    const t = nums.map(tr);
    return { name, kind: "num", log: log && nums.every((v) => v > 0), min: Math.min(...t), max: Math.max(...t), cats: [] };
  }
  const cats = [...new Set(values.filter((v) => v !== undefined && v !== null).map((v) => formatValue(v)))].sort();
  return { name, kind: "cat", log: false, min: 0, max: Math.max(1, cats.length - 1), cats };
}

/** 0 (bottom) .. 1 (top), or null when the trial has no value on this axis. */
function position(axis: Axis, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (axis.kind === "cat") {
    const i = axis.cats.indexOf(formatValue(v));
    if (i < 0) return null;
    return axis.cats.length === 1 ? 0.5 : i / (axis.cats.length - 1);
  }
  if (typeof v !== "number" || !Number.isFinite(v)) return null;
  const t = axis.log ? Math.log10(v) : v;
  return axis.max === axis.min ? 0.5 : (t - axis.min) / (axis.max - axis.min);
}

function tickText(axis: Axis, frac: number): string {
  const t = axis.min + frac * (axis.max - axis.min);
  return formatNumber(axis.log ? 10 ** t : t);
}

/** Blue (good) to red (bad) for the objective, whatever its direction. */
function colour(goodness: number): string {
  const a = [31, 95, 191];
  const b = [220, 38, 38];
  const c = a.map((x, i) => Math.round(x + ((b[i] ?? 0) - x) * (1 - goodness)));
  return `rgb(${c.join(",")})`;
}

interface ParallelProps {
  analysis: SweepAnalysis;
  spec: Record<string, Record<string, unknown>>;
  objective: number;
  pareto: Set<number>;
}

function Parallel({ analysis, spec, objective: k, pareto }: ParallelProps): ReactNode {
  const rows = analysis.parallel;
  const objective = analysis.metrics[k];
  if (rows.length === 0 || !objective) return <p className="muted">No complete or pruned trial yet.</p>;
  const names = analysis.parameters;
  const axes: Axis[] = names.map((n) => axisOf(n, rows.map((r) => r.params[n]), spec[n]));
  // one axis per objective (the chosen one colours the lines)
  const objAxes = analysis.metrics.map((m) => {
    const axis = axisOf(m.name, rows.map((r) => num(r.values[m.name])), undefined);
    return { ...axis, name: `${m.name} (${m.goal === "minimize" ? "min" : "max"})`, metric: m.name };
  });
  const objAxis = objAxes[k] ?? objAxes[0];
  if (!objAxis) return null;
  const all = [...axes, ...objAxes];
  const W = Math.max(560, 150 * all.length);
  const H = 300;
  const top = 34;
  const bottom = 24;
  const left = 60;
  const step = (W - 2 * left) / Math.max(1, all.length - 1);
  const xOf = (i: number): number => left + i * step;
  const yOf = (f: number): number => top + (1 - f) * (H - top - bottom);
  const goodness = (v: number | null): number => {
    const f = position(objAxis, v);
    if (f === null) return 0;
    return objective.goal === "minimize" ? 1 - f : f;
  };
  // draw the pruned first, then complete trials worst to best (the best on top), the
  // Pareto front above all
  const ordered = [...rows].sort((p, q) => {
    if (p.state !== q.state) return p.state === "pruned" ? -1 : 1;
    const front = Number(pareto.has(p.number)) - Number(pareto.has(q.number));
    if (front !== 0) return front;
    return goodness(num(p.values[objective.name])) - goodness(num(q.values[objective.name]));
  });
  return (
    <div className="scroll-x">
      <svg
        className="parallel"
        width={W}
        height={H}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`Parallel coordinates of ${rows.length} trials over ${names.join(", ")} and ${analysis.metrics.map((m) => m.name).join(", ")}, coloured by ${objective.name}`}
        data-testid="parallel"
      >
        {ordered.map((r) => {
          const v = num(r.values[objective.name]);
          const pts: string[] = [];
          all.forEach((axis, i) => {
            const f = i < axes.length ? position(axis, r.params[axis.name]) : position(axis, num(r.values[objAxes[i - axes.length]?.metric ?? ""]));
            if (f !== null) pts.push(`${xOf(i).toFixed(1)},${yOf(f).toFixed(1)}`);
          });
          const pruned = r.state === "pruned";
          const onFront = pareto.has(r.number);
          return (
            <polyline
              key={r.number}
              points={pts.join(" ")}
              fill="none"
              stroke={pruned ? "#9ca3af" : colour(goodness(v))}
              strokeWidth={pruned ? 1 : onFront ? 3.5 : 1.8}
              strokeDasharray={pruned ? "4 3" : undefined}
              opacity={pruned ? 0.8 : 0.9}
              data-state={r.state}
              data-pareto={onFront ? "true" : undefined}
            >
              <title>{`trial ${r.number} (${r.state}${onFront ? ", Pareto front" : ""}): ${v === null ? "no value" : formatNumber(v)}`}</title>
            </polyline>
          );
        })}
        {all.map((axis, i) => (
          <g key={axis.name} className="pc-axis">
            <line x1={xOf(i)} x2={xOf(i)} y1={top} y2={H - bottom} stroke="#334155" />
            <text x={xOf(i)} y={14} textAnchor="middle" className="pc-name">
              {axis.name}
              {axis.log ? " (log)" : ""}
            </text>
            {axis.kind === "cat"
              ? axis.cats.map((c, k) => (
                  <text key={c} x={xOf(i) + 4} y={yOf(axis.cats.length === 1 ? 0.5 : k / (axis.cats.length - 1)) + 4} className="pc-tick">
                    {c}
                  </text>
                ))
              : [0, 0.5, 1].map((f) => (
                  <text key={f} x={xOf(i) + 4} y={yOf(f) + 4} className="pc-tick">
                    {tickText(axis, f)}
                  </text>
                ))}
          </g>
        ))}
      </svg>
      <p className="muted small">
        One line per trial, coloured by {objective.name} (blue: better, red: worse); pruned trials are grey and dashed
        (their last reported value).{pareto.size > 0 && " Thick lines: the trials of the Pareto front."} Failed trials have no
        values and are left out.
      </p>
    </div>
  );
}

// -- importance ------------------------------------------------------------------------

function Importance({ analysis }: { analysis: SweepAnalysis }): ReactNode {
  const imp = analysis.importance;
  if (!imp || Object.keys(imp).length === 0) return <p className="muted">Not enough complete trials to estimate importance.</p>;
  const rows = Object.entries(imp).sort((p, q) => q[1] - p[1]);
  return (
    <table className="importance" data-testid="importance">
      <caption className="muted small">Share of the objective's variation explained ({analysis.importance_method ?? ""})</caption>
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>
              <span className="bar" style={{ width: `${Math.max(0.5, v * 100).toFixed(1)}%` }} />
            </td>
            <td className="num">{(v * 100).toFixed(1)}%</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

// -- trials ----------------------------------------------------------------------------

interface TrialsProps {
  trials: SweepTrial[];
  objectives: { name: string }[];
  pareto: Set<number>;
  testId?: string;
}

function Trials({ trials, objectives, pareto, testId = "trials" }: TrialsProps): ReactNode {
  if (trials.length === 0) return <p className="muted">No trials yet.</p>;
  const params = [...new Set(trials.flatMap((t) => Object.keys(t.params)))];
  const names = objectives.length > 0 ? objectives.map((o) => o.name) : ["value"];
  return (
    <div className="scroll-x">
      <table className="grid" data-testid={testId}>
        <thead>
          <tr>
            <th scope="col" className="num">
              #
            </th>
            <th scope="col">State</th>
            {names.map((n) => (
              <th scope="col" className="num" key={`v-${n}`}>
                {n}
              </th>
            ))}
            {params.map((p) => (
              <th scope="col" key={`p-${p}`}>
                {p}
              </th>
            ))}
            <th scope="col">Sampler</th>
            <th scope="col">Duration</th>
            <th scope="col">Run</th>
          </tr>
        </thead>
        <tbody>
          {trials.map((t) => {
            const last = t.intermediate.length > 0 ? num(t.intermediate[t.intermediate.length - 1]?.[1]) : null;
            return (
              <tr key={t.number} data-trial={t.number} data-state={t.state} data-pareto={pareto.has(t.number) ? "true" : undefined}>
                <td className="num">{t.number}</td>
                <td>
                  <StatusBadge status={t.state} />
                  {pareto.has(t.number) && testId !== "pareto" && <span className="badge badge-pareto">Pareto</span>}
                  {t.warm && <span className="muted small"> warm</span>}
                  {t.retried && <span className="muted small"> retried</span>}
                </td>
                {names.map((n, i) => {
                  const v = t.values ? num(t.values[i]) : null;
                  return (
                    <td className="num mono" key={`v-${n}`} title={t.state === "pruned" && v === null && last !== null ? "last reported value" : undefined}>
                      {v !== null ? formatNumber(v) : t.state === "pruned" && last !== null && i === 0 ? `(${formatNumber(last)})` : ""}
                    </td>
                  );
                })}
                {params.map((p) => (
                  <td className="mono" key={`p-${p}`}>
                    {formatValue(t.params[p])}
                  </td>
                ))}
                <td>{t.sampler}</td>
                <td>{t.started_at !== null && t.ended_at !== null ? formatDuration(t.ended_at - t.started_at) : ""}</td>
                <td>
                  <Link to={paths.run(t.run_id)} className="mono">
                    {t.run_id}
                  </Link>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {trials.some((t) => t.error) && (
        <details>
          <summary>Errors of failed trials</summary>
          {trials
            .filter((t) => t.error)
            .map((t) => (
              <pre className="wrap error" key={t.number}>
                {`trial ${t.number}: ${t.error ?? ""}`}
              </pre>
            ))}
        </details>
      )}
    </div>
  );
}
