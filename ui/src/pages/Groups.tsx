// Group the run table's runs by a field: per group the run count and, for a chosen metric,
// its mean with a 95 % confidence interval (computed by the server, in SQL). The groups are
// asked for again while the page is open, so new runs and running runs' values show.
import type { ReactNode } from "react";
import { enc, get } from "../api";
import { ErrorBox, Loading } from "../components";
import { formatNumber, formatValue } from "../format";
import { useLoad, usePoll } from "../hooks";
import { setQuery, useLocation } from "../router";
import type { KeySets } from "./columns";

interface Group {
  value: unknown;
  count: number;
  n: number;
  mean: number | null;
  std: number | null;
  ci_low: number | null;
  ci_high: number | null;
}

interface Groups {
  by: string;
  metric: string | null;
  runs: number;
  group_count: number;
  groups: Group[];
  truncated: boolean;
}

/** The query-language condition selecting a group's runs. */
export function groupCondition(by: string, value: unknown): string {
  if (value === null || value === undefined) return `${by} is null`;
  if (typeof value === "number" || typeof value === "boolean") return `${by} = ${String(value)}`;
  const text = formatValue(value).replace(/\\/g, "\\\\").replace(/'/g, "\\'");
  return `${by} = '${text}'`;
}

export function GroupBar({ keys, by, metric }: { keys: KeySets; by: string; metric: string }): ReactNode {
  const fields = ["run.status", "run.user", "run.host", "run.group", ...keys.config.map((k) => `config.${k}`), ...keys.tags.map((k) => `tags.${k}`)];
  return (
    <div className="groupbar" role="group" aria-label="Group runs">
      <label htmlFor="group-by">Group by</label>
      <select id="group-by" value={by} onChange={(e) => setQuery({ group: e.target.value || null })}>
        <option value="">(no grouping)</option>
        {fields.map((f) => (
          <option key={f} value={f}>
            {f}
          </option>
        ))}
      </select>
      {by && (
        <>
          <label htmlFor="group-metric">metric</label>
          <select id="group-metric" value={metric} onChange={(e) => setQuery({ gmetric: e.target.value || null })}>
            <option value="">(count only)</option>
            {keys.metrics.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </>
      )}
    </div>
  );
}

type SortKey = "value" | "count" | "n" | "mean" | "ci";
const SORT_KEYS: SortKey[] = ["value", "count", "n", "mean", "ci"];
const SORT_NAMES: Record<SortKey, string> = {
  value: "group value",
  count: "run count",
  n: "runs with the metric",
  mean: "mean",
  ci: "the interval's half-width",
};

/** The groups' order from the URL ("gsort=mean" or "gsort=-mean"); largest groups first by default. */
function parseGroupSort(text: string | null): { key: SortKey; desc: boolean } {
  const desc = text?.startsWith("-") ?? true;
  const key = (text?.replace(/^-/, "") ?? "count") as SortKey;
  return SORT_KEYS.includes(key) ? { key, desc: text === null ? true : desc } : { key: "count", desc: true };
}

function halfWidth(g: Group): number | null {
  return g.ci_low === null || g.ci_high === null ? null : (g.ci_high - g.ci_low) / 2;
}

function sortValue(g: Group, key: SortKey): number | string | null {
  switch (key) {
    case "value":
      if (g.value === null || g.value === undefined) return null;
      return typeof g.value === "number" ? g.value : typeof g.value === "boolean" ? Number(g.value) : formatValue(g.value);
    case "count":
      return g.count;
    case "n":
      return g.n;
    case "mean":
      return g.mean;
    case "ci":
      return halfWidth(g);
  }
}

/** Groups in the chosen order; missing values last whatever the direction. */
export function sortGroups(groups: Group[], key: SortKey, desc: boolean): Group[] {
  const collator = new Intl.Collator(undefined, { numeric: true });
  return groups
    .map((g, i) => ({ g, i, v: sortValue(g, key) }))
    .sort((a, b) => {
      if (a.v === null || b.v === null) return a.v === b.v ? a.i - b.i : a.v === null ? 1 : -1;
      let c: number;
      if (typeof a.v === "number" && typeof b.v === "number") c = a.v - b.v;
      else if (typeof a.v === "number") c = -1; // numbers before text
      else if (typeof b.v === "number") c = 1;
      else c = collator.compare(a.v, b.v);
      return (desc ? -c : c) || a.i - b.i;
    })
    .map((x) => x.g);
}

function SortHeader({ label, sortKey, order, className }: { label: ReactNode; sortKey: SortKey; order: { key: SortKey; desc: boolean }; className?: string }): ReactNode {
  const active = order.key === sortKey;
  const click = (): void => {
    // a first click sorts text up and numbers down (largest first); a second reverses
    const desc = active ? !order.desc : sortKey !== "value" && sortKey !== "mean" && sortKey !== "ci";
    setQuery({ gsort: `${desc ? "-" : ""}${sortKey}` });
  };
  return (
    <th scope="col" className={className} aria-sort={active ? (order.desc ? "descending" : "ascending") : "none"} data-sort={sortKey}>
      <button type="button" className="sort" onClick={click} title={`Sort by ${SORT_NAMES[sortKey]}`}>
        {label}
        <span aria-hidden="true">{active ? (order.desc ? " ▼" : " ▲") : ""}</span>
      </button>
    </th>
  );
}

/** How often the groups are asked for again (longer when the server's answer is slow). */
const POLL_MS = 5000;

export function GroupsTable({ project, filter, by, metric }: { project: string; filter: string; by: string; metric: string }): ReactNode {
  const loaded = useLoad(
    (signal) =>
      get<Groups>(
        `/projects/${enc(project)}/runs/groups?by=${enc(by)}${metric ? `&metric=${enc(metric)}` : ""}${filter ? `&filter=${enc(filter)}` : ""}`,
        signal,
      ),
    [project, filter, by, metric],
  );
  const { data, error } = loaded;
  usePoll(loaded, POLL_MS);
  const asked = parseGroupSort(useLocation().searchParams.get("gsort"));
  if (!data) return error ? <ErrorBox error={error} /> : <Loading what="groups" />;
  // without a metric, only the value and the count can order the groups
  const order = data.metric || asked.key === "value" || asked.key === "count" ? asked : parseGroupSort(null);
  const lo = Math.min(...data.groups.map((g) => g.ci_low ?? g.mean ?? Infinity));
  const hi = Math.max(...data.groups.map((g) => g.ci_high ?? g.mean ?? -Infinity));
  const span = hi > lo ? hi - lo : 1;
  const pct = (v: number): string => `${(((v - lo) / span) * 100).toFixed(2)}%`;
  const narrow = (cond: string): void => setQuery({ filter: filter ? `(${filter}) and ${cond}` : cond, group: null });
  return (
    <div className="groups scroll-x">
      <ErrorBox error={error} />
      <table className="grid" data-testid="groups">
        <caption className="muted small">
          {data.runs.toLocaleString()} runs in {data.group_count} groups by {data.by}
          {data.truncated ? ` (the ${data.groups.length} largest shown)` : ""}
          {data.metric ? `; ${data.metric}: mean and 95 % confidence interval of the mean (Student's t)` : ""}
        </caption>
        <thead>
          <tr>
            <SortHeader label={data.by} sortKey="value" order={order} />
            <SortHeader label="Runs" sortKey="count" order={order} className="num" />
            {data.metric && (
              <>
                <SortHeader label={`with ${data.metric}`} sortKey="n" order={order} className="num" />
                <SortHeader label="Mean" sortKey="mean" order={order} className="num" />
                <SortHeader label="95 % CI" sortKey="ci" order={order} className="num" />
                <th scope="col" className="ci-col">
                  <span className="sr-only">interval</span>
                </th>
              </>
            )}
            <th scope="col">
              <span className="sr-only">show</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sortGroups(data.groups, order.key, order.desc).map((g) => {
            const label = g.value === null ? "(missing)" : formatValue(g.value);
            return (
              <tr key={JSON.stringify(g.value) ?? "null"} data-group={label}>
                <td className="mono">{label}</td>
                <td className="num">{g.count.toLocaleString()}</td>
                {data.metric && (
                  <>
                    <td className="num">{g.n.toLocaleString()}</td>
                    <td className="num mono">{g.mean === null ? "" : formatNumber(g.mean)}</td>
                    <td className="num mono">
                      {g.ci_low === null || g.ci_high === null ? "" : `${formatNumber(g.ci_low)} – ${formatNumber(g.ci_high)}`}
                    </td>
                    <td className="ci-col">
                      {g.mean !== null && (
                        <span className="ci" aria-hidden="true">
                          {g.ci_low !== null && g.ci_high !== null && (
                            <span className="ci-range" style={{ left: pct(g.ci_low), width: `calc(${pct(g.ci_high)} - ${pct(g.ci_low)})` }} />
                          )}
                          <span className="ci-mean" style={{ left: pct(g.mean) }} />
                        </span>
                      )}
                    </td>
                  </>
                )}
                <td>
                  <button type="button" className="linkish" onClick={() => narrow(groupCondition(data.by, g.value))}>
                    show runs
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
