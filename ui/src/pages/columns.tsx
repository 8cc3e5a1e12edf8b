// Columns of the run table: run attributes, config keys, metrics and tags.
import type { ReactNode } from "react";
import { StatusBadge } from "../components";
import { flatten, formatValue } from "../format";
import { Link, paths } from "../router";
import { formatDuration, formatTime, runDuration } from "../time";
import { num, type RunRow } from "../wire";

export const RUN_FIELDS: Record<string, string> = {
  "run.name": "name",
  "run.status": "status",
  "run.user": "user",
  "run.host": "host",
  "run.start_time": "started",
  "run.duration": "duration",
  "run.end_time": "ended",
  "run.group": "group",
  "run.id": "id",
};

export const BASE_COLUMNS = ["run.name", "run.status", "run.user", "run.start_time", "run.duration"];

const flatConfigs = new WeakMap<RunRow, Record<string, unknown>>();

export function flatConfig(run: RunRow): Record<string, unknown> {
  let flat = flatConfigs.get(run);
  if (!flat) {
    flat = flatten(run.config);
    flatConfigs.set(run, flat);
  }
  return flat;
}

export function metricValue(run: RunRow, key: string): number | null {
  const summary = run.summary[key];
  if (typeof summary === "number") return summary;
  const m = run.metrics[key];
  return m ? num(m[0]) : null;
}

export function columnLabel(col: string): string {
  return RUN_FIELDS[col] ?? col;
}

/** A sortable query-language field for a column ("run.duration", "config.lr", ...). */
export function sortField(col: string): string {
  return col;
}

export function cell(run: RunRow, col: string): ReactNode {
  switch (col) {
    case "run.name":
      return (
        <Link to={paths.run(run.id)} className="runlink">
          {run.name}
        </Link>
      );
    case "run.status":
      return <StatusBadge status={run.status} />;
    case "run.user":
      return run.user;
    case "run.host":
      return run.host;
    case "run.id":
      return run.id;
    case "run.group":
      return run.group ?? "";
    case "run.start_time":
      return formatTime(run.start_time);
    case "run.end_time":
      return formatTime(run.end_time);
    case "run.duration":
      return formatDuration(runDuration(run.start_time, run.end_time));
  }
  const dot = col.indexOf(".");
  const kind = col.slice(0, dot);
  const key = col.slice(dot + 1);
  if (kind === "config") return formatValue(flatConfig(run)[key]);
  if (kind === "metrics") return formatValue(metricValue(run, key));
  if (kind === "tags") return run.tags[key] ?? "";
  return "";
}

const KEY_KINDS = ["config.", "metrics.", "tags."];

function keyColumn(col: string): boolean {
  const kind = KEY_KINDS.find((k) => col.startsWith(k));
  if (!kind) return false;
  const key = col.slice(kind.length);
  return key.length > 0 && key.length <= 250 && ![...key].some((ch) => ch < " " || ch === "\x7f");
}

/** The columns whose values the rows must hold (`POST /runs/search`'s `columns`): config,
 * metric and tag keys. A row always holds the run's fields, and a column the table cannot
 * show (a URL edited by hand) is left out rather than refused by the server. */
export function keyColumns(cols: string[]): string[] {
  return [...new Set(cols.filter(keyColumn))].slice(0, 1000);
}

export interface KeySets {
  config: string[];
  metrics: string[];
  tags: string[];
}

/** The keys seen in the loaded runs (the table offers them as columns). */
export function keysOf(runs: RunRow[]): KeySets {
  const config = new Set<string>();
  const metrics = new Set<string>();
  const tags = new Set<string>();
  for (const r of runs.slice(0, 2000)) {
    for (const k of Object.keys(flatConfig(r))) config.add(k);
    for (const k of Object.keys(r.metrics)) metrics.add(k);
    for (const k of Object.keys(r.tags)) tags.add(k);
  }
  const sorted = (s: Set<string>): string[] => [...s].sort();
  return { config: sorted(config), metrics: sorted(metrics), tags: sorted(tags) };
}

export function defaultColumns(keys: KeySets): string[] {
  return [
    ...BASE_COLUMNS,
    ...keys.metrics
      .filter((k) => !k.startsWith("system/"))
      .slice(0, 4)
      .map((k) => `metrics.${k}`),
    ...keys.config.slice(0, 4).map((k) => `config.${k}`),
  ];
}
