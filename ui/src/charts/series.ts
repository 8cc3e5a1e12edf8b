// Metric series for charts, downsampled by the server (per bucket min and max, plus the
// first and last points: a spike survives any zoom level).
import { enc, get } from "../api";
import { num, type DownsampledAnswer } from "../wire";
import type { Line, XMode } from "./Chart";

export const POINTS = 2000;
const KEYS_PER_REQUEST = 10;

export interface SeriesData {
  x: number[];
  y: (number | null)[];
  total: number;
  exact: boolean;
}

export async function fetchSeries(
  runId: string,
  keys: string[],
  xMode: XMode,
  range?: [number, number],
  signal?: AbortSignal,
): Promise<Record<string, SeriesData>> {
  const out: Record<string, SeriesData> = {};
  const groups: string[][] = [];
  for (let i = 0; i < keys.length; i += KEYS_PER_REQUEST) groups.push(keys.slice(i, i + KEYS_PER_REQUEST));
  await Promise.all(
    groups.map(async (group) => {
      const params = new URLSearchParams({ points: String(POINTS), x: xMode });
      for (const key of group) params.append("key", key);
      if (range) {
        params.set("start", String(Math.floor(range[0])));
        params.set("end", String(Math.ceil(range[1])));
      }
      const answer = await get<DownsampledAnswer>(`/runs/${enc(runId)}/history/downsampled?${params}`, signal);
      for (const [key, s] of Object.entries(answer.series)) {
        out[key] = {
          x: s.x.map((v) => num(v) ?? 0),
          y: s.y.map(num),
          total: s.total,
          exact: s.exact,
        };
      }
    }),
  );
  return out;
}

export function lineOf(label: string, s: SeriesData | undefined): Line {
  return { label, x: s?.x ?? [], y: s?.y ?? [] };
}
