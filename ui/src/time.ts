// Times are stored in UTC (seconds since the epoch) and shown in the viewer's time zone,
// with the zone named.

export const viewerZone: string = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

const stamp = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
  timeZoneName: "short",
});

/** "2026-03-01, 14:03:05 GMT+1" in the viewer's zone; "" for none. */
export function formatTime(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  return stamp.format(new Date(seconds * 1000));
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min ${rest} s`;
}

export function runDuration(start: number, end: number | null, now: number = Date.now() / 1000): number {
  return (end ?? now) - start;
}
