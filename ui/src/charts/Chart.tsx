// One uPlot chart: zoom by dragging (double-click resets), smoothing, log scale, step or
// time on the x axis. Data arrive downsampled by the server (extremes kept).
import { useEffect, useRef, type ReactNode } from "react";
import uPlot from "uplot";
import { formatNumber } from "../format";

export interface Line {
  label: string;
  x: number[];
  y: (number | null)[];
}

export type XMode = "step" | "time";

interface Props {
  title: string;
  lines: Line[];
  xMode: XMode;
  log: boolean;
  smoothing: number;
  height?: number;
  onZoom?: (min: number, max: number) => void;
  onReset?: () => void;
  testId?: string;
}

const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#be185d"];

/** Exponential moving average with debiasing (as TensorBoard's smoothing slider). */
export function smooth(y: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return y;
  const out: (number | null)[] = new Array<number | null>(y.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < y.length; i += 1) {
    const v = y[i];
    if (v === null || v === undefined) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n += 1;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}

function buildData(lines: Line[], smoothing: number, log: boolean): uPlot.AlignedData {
  const clean = (y: (number | null)[]): (number | null)[] => (log ? y.map((v) => (v !== null && v > 0 ? v : null)) : y);
  const single = lines.length === 1 && lines[0];
  if (single) {
    const ys = [clean(single.y)];
    if (smoothing > 0) ys.push(clean(smooth(single.y, smoothing)));
    return [single.x, ...ys] as uPlot.AlignedData;
  }
  const tables = lines.map((l) => [l.x, clean(smoothing > 0 ? smooth(l.y, smoothing) : l.y)] as uPlot.AlignedData);
  if (tables.length === 0) return [[]];
  return uPlot.join(tables);
}

function seriesOf(lines: Line[], smoothing: number): uPlot.Series[] {
  const single = lines.length === 1 && lines[0];
  if (single) {
    const raw: uPlot.Series = {
      label: single.label,
      stroke: smoothing > 0 ? "rgba(31,95,191,0.3)" : (COLORS[0] ?? "#1f5fbf"),
      width: 1,
      spanGaps: false,
      value: (_u, v) => (v === null ? "–" : formatNumber(v)),
    };
    if (smoothing === 0) return [{}, raw];
    return [{}, raw, { label: `${single.label} (smoothed)`, stroke: COLORS[0], width: 2, value: (_u, v) => (v === null ? "–" : formatNumber(v)) }];
  }
  return [
    {},
    ...lines.map((l, i) => ({
      label: l.label,
      stroke: COLORS[i % COLORS.length],
      width: 1.5,
      spanGaps: true,
      value: (_u: uPlot, v: number | null) => (v === null ? "–" : formatNumber(v)),
    })),
  ];
}

export function Chart({ title, lines, xMode, log, smoothing, height = 220, onZoom, onReset, testId }: Props): ReactNode {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const zoom = useRef(onZoom);
  const reset = useRef(onReset);
  useEffect(() => {
    zoom.current = onZoom;
    reset.current = onReset;
  }, [onZoom, onReset]);

  const shape = `${lines.length}|${lines.map((l) => l.label).join("\u0000")}|${xMode}|${log}|${smoothing > 0}`;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      title,
      width: Math.max(200, el.clientWidth),
      height,
      scales: {
        x: { time: xMode === "time" },
        y: log ? { distr: 3 } : {},
      },
      axes: [{ label: xMode === "time" ? undefined : "step" }, { size: 60, values: (_u, vals) => vals.map((v) => (v === null || v === undefined ? "" : formatNumber(v))) }],
      series: seriesOf(lines, smoothing),
      cursor: { drag: { x: true, y: false, setScale: true } },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 0) {
              const min = u.posToVal(u.select.left, "x");
              const max = u.posToVal(u.select.left + u.select.width, "x");
              zoom.current?.(min, max);
            }
          },
        ],
        draw: [
          () => {
            el.dataset.drawn = String(Number(el.dataset.drawn ?? "0") + 1);
          },
        ],
      },
    };
    const u = new uPlot(opts, buildData(lines, smoothing, log), el);
    plot.current = u;
    const onDbl = (): void => reset.current?.();
    u.over.addEventListener("dblclick", onDbl);
    let width = u.width;
    const observer = new ResizeObserver(() => {
      const next = Math.max(200, el.clientWidth);
      if (Math.abs(next - width) > 1) {
        width = next;
        u.setSize({ width, height });
      }
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = null;
      delete el.dataset.drawn;
    };
    // the chart is rebuilt when its shape changes; data alone go through setData
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, title, height]);

  useEffect(() => {
    plot.current?.setData(buildData(lines, smoothing, log));
  }, [lines, smoothing, log]);

  return <div className="chart" ref={box} data-testid={testId} data-metric={title} />;
}
