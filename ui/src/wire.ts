// The shapes of the REST API's JSON answers (see docs/api.md and runtrack/protocol.py).
// Floats may be "NaN", "Infinity" or "-Infinity" strings in JSON.

export type RunStatus = "running" | "finished" | "failed" | "killed" | "crashed";
export type WireFloat = number | string | null;

export interface Project {
  name: string;
  created_at: number;
  run_count: number;
}

export interface ArtifactVersion {
  project: string;
  name: string;
  type: string;
  version: string;
  index: number;
  digest: string;
  size: number;
  file_count: number;
  created_by: string | null;
  created_at: number;
  aliases: string[];
  metadata: Record<string, unknown>;
}

export interface Run {
  id: string;
  project: string;
  name: string;
  status: RunStatus;
  user: string;
  host: string;
  start_time: number;
  end_time: number | null;
  heartbeat_time: number | null;
  parent_id: string | null;
  group: string | null;
  notes: string | null;
  error: string | null;
  tags: Record<string, string>;
  config: Record<string, unknown>;
  /** key -> [last, min, max, count, last_step] */
  metrics: Record<string, [WireFloat, WireFloat, WireFloat, number, number | null]>;
  summary: Record<string, unknown>;
  provenance: Record<string, unknown> | null;
  inputs: Record<string, unknown>[];
  outputs: ArtifactVersion[];
  used: ArtifactVersion[];
}

/** A run as a table row (`POST /runs/search` with `columns`): its attributes, and of its
 * config (flattened), metrics, summary and tags only the keys named. A full `Run` is one too. */
export type RunRow = Omit<Run, "provenance" | "inputs" | "outputs" | "used">;

export interface ArtifactFile {
  path: string;
  digest: string;
  size: number;
  ref?: string;
}

export interface RegisteredModel {
  name: string;
  project: string;
  description: string | null;
  created_by: string | null;
  created_at: number;
  latest_version: number | null;
  version_count: number;
  aliases: Record<string, number>;
  gates: Record<string, unknown>[];
}

export interface ModelVersion {
  model: string;
  version: number;
  artifact: ArtifactVersion;
  run_id: string | null;
  tags: Record<string, string>;
  description: string | null;
  created_by: string | null;
  created_at: number;
  aliases: string[];
}

export interface AliasEvent {
  subject: string;
  alias: string;
  from_version: number | string | null;
  to_version: number | string | null;
  actor: string;
  reason: string | null;
  at: number;
}

export interface Me {
  name: string;
  admin: boolean;
  token_id: number | null;
  projects: Record<string, "viewer" | "editor" | "admin">;
}

export interface Token {
  id: number;
  user: string;
  label: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
  token?: string;
}

export interface Downsampled {
  x: WireFloat[];
  y: WireFloat[];
  total: number;
  exact: boolean;
}

export interface DownsampledAnswer {
  x: "step" | "time";
  series: Record<string, Downsampled>;
}

/** A JSON float as a number; NaN and infinities become null (a gap in a chart). */
export function num(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  return null;
}

export type TrialState = "running" | "complete" | "pruned" | "failed";

export interface SweepTrial {
  sweep_id: string;
  number: number;
  run_id: string;
  state: TrialState;
  params: Record<string, unknown>;
  values: WireFloat[] | null;
  intermediate: [number, WireFloat][];
  sampler: string;
  started_at: number | null;
  ended_at: number | null;
  warm: boolean;
  error: string | null;
  retry_of: number | null;
  retried: boolean;
}

export interface SweepObjective {
  name: string;
  goal: "minimize" | "maximize";
}

export interface Sweep {
  id: string;
  project: string;
  name: string;
  spec: {
    metrics?: SweepObjective[];
    parameters?: Record<string, Record<string, unknown>>;
    method?: string;
    [key: string]: unknown;
  };
  status: string;
  user: string;
  created_at: number;
  ended_at: number | null;
  counts: Record<string, number>;
  budget_used: number;
  best: SweepTrial | null;
  pareto: SweepTrial[];
  stop_reason: string | null;
}

export interface SweepAnalysis {
  sweep: string;
  metrics: SweepObjective[];
  history: { number: number; state: TrialState; value: WireFloat; best: WireFloat; warm: boolean; sampler: string }[];
  importance: Record<string, number> | null;
  importance_method: string | null;
  parallel: { number: number; run_id: string; state: TrialState; params: Record<string, unknown>; values: Record<string, WireFloat> }[];
  parameters: string[];
}
