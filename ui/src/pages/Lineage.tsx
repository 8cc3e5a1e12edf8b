// A lineage graph both ways from a root (a run or an artifact version): upstream nodes to
// the left, downstream to the right, one column per edge of distance. Drawn as SVG of our
// own; labels are SVG text nodes (never markup).
import { useState, type MouseEvent, type ReactNode } from "react";
import { enc, get } from "../api";
import { ErrorBox, Loading } from "../components";
import { useLoad } from "../hooks";
import { navigate, paths } from "../router";

export interface LineageNode {
  id: string;
  kind: string;
  label: string;
  project: string | null;
  depth: number;
  data: Record<string, unknown>;
}

export interface LineageGraph {
  root: string;
  direction: "up" | "down";
  depth: number | null;
  truncated: boolean;
  nodes: LineageNode[];
  edges: [string, string, string][];
}

/** Where a node's page is, if it has one. */
export function nodeLink(n: LineageNode): string | null {
  if (n.id.startsWith("run:")) return paths.run(n.id.slice(4));
  if (n.id.startsWith("artifact:")) {
    const ref = n.id.slice("artifact:".length);
    const slash = ref.indexOf("/");
    const colon = ref.lastIndexOf(":");
    if (slash < 0 || colon < slash) return null;
    const project = ref.slice(0, slash);
    const name = ref.slice(slash + 1, colon);
    return `${paths.artifact(project, name)}?v=${enc(ref.slice(colon + 1))}`;
  }
  return null;
}

const DEPTHS: [string, string][] = [
  ["1", "1"],
  ["2", "2"],
  ["3", "3"],
  ["5", "5"],
  ["", "all"],
];

export function LineagePanel({ root, project }: { root: string; project?: string }): ReactNode {
  const [depth, setDepth] = useState("3");
  const q = (direction: string): string =>
    `/lineage?root=${enc(root)}&direction=${direction}${depth ? `&depth=${depth}` : ""}${project ? `&project=${enc(project)}` : ""}`;
  const up = useLoad((signal) => get<LineageGraph>(q("up"), signal), [root, project, depth]);
  const down = useLoad((signal) => get<LineageGraph>(q("down"), signal), [root, project, depth]);
  const error = up.error ?? down.error;
  return (
    <div className="lineage">
      <label className="small">
        Depth{" "}
        <select value={depth} onChange={(e) => setDepth(e.target.value)} aria-label="lineage depth">
          {DEPTHS.map(([v, label]) => (
            <option key={label} value={v}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <ErrorBox error={error} />
      {!error && (!up.data || !down.data) && <Loading what="lineage" />}
      {up.data && down.data && <LineageSvg up={up.data} down={down.data} />}
    </div>
  );
}

const NODE_W = 150;
const NODE_H = 38;
const COL_GAP = 44;
const ROW_GAP = 14;
const PAD = 16;

function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function LineageSvg({ up, down }: { up: LineageGraph; down: LineageGraph }): ReactNode {
  // columns: upstream nodes at -depth, downstream at +depth (the root at 0)
  const col = new Map<string, number>();
  const nodes = new Map<string, LineageNode>();
  for (const n of down.nodes) {
    nodes.set(n.id, n);
    col.set(n.id, n.depth);
  }
  for (const n of up.nodes) {
    if (!nodes.has(n.id) || n.depth > 0) {
      nodes.set(n.id, n);
      if (!col.has(n.id) || n.depth > 0) col.set(n.id, -n.depth);
    }
  }
  const edges = new Map<string, [string, string, string]>();
  for (const e of [...up.edges, ...down.edges]) edges.set(e.join("\u0000"), e);
  if (nodes.size <= 1) return <p className="muted">No lineage recorded: nothing used or produced.</p>;
  const cols = [...new Set(col.values())].sort((a, b) => a - b);
  const byCol = new Map<number, LineageNode[]>();
  for (const [id, c] of col) {
    const n = nodes.get(id);
    if (!n) continue;
    const list = byCol.get(c) ?? [];
    list.push(n);
    byCol.set(c, list);
  }
  for (const list of byCol.values()) list.sort((a, b) => a.label.localeCompare(b.label));
  const tallest = Math.max(...[...byCol.values()].map((l) => l.length));
  const height = 2 * PAD + tallest * NODE_H + (tallest - 1) * ROW_GAP;
  const width = 2 * PAD + cols.length * NODE_W + (cols.length - 1) * COL_GAP;
  const pos = new Map<string, { x: number; y: number }>();
  for (const [c, list] of byCol) {
    const x = PAD + cols.indexOf(c) * (NODE_W + COL_GAP);
    const block = list.length * NODE_H + (list.length - 1) * ROW_GAP;
    const y0 = (height - block) / 2;
    list.forEach((n, i) => pos.set(n.id, { x, y: y0 + i * (NODE_H + ROW_GAP) }));
  }
  const follow = (e: MouseEvent<Element>, to: string): void => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  const truncated = up.truncated || down.truncated;
  return (
    <div className="scroll-x">
      <svg
        className="lineage-graph"
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="group"
        aria-label={`Lineage of ${up.root}: ${nodes.size} nodes, ${edges.size} edges`}
        data-testid="lineage"
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b" />
          </marker>
        </defs>
        {[...edges.values()].map(([s, t, kind]) => {
          const a = pos.get(s);
          const b = pos.get(t);
          if (!a || !b) return null;
          const x1 = a.x + NODE_W;
          const y1 = a.y + NODE_H / 2;
          const x2 = b.x;
          const y2 = b.y + NODE_H / 2;
          const mid = (x1 + x2) / 2;
          return (
            <path
              key={`${s}>${t}`}
              d={`M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`}
              fill="none"
              stroke="#64748b"
              strokeWidth={1.4}
              markerEnd="url(#arrow)"
              data-edge={kind}
              data-source={s}
              data-target={t}
            >
              <title>{kind}</title>
            </path>
          );
        })}
        {[...nodes.values()].map((n) => {
          const p = pos.get(n.id);
          if (!p) return null;
          const root = n.id === up.root;
          const to = nodeLink(n);
          const sub = n.kind === "artifact" ? String(n.data.type ?? "artifact") : n.kind === "run" ? String(n.data.status ?? "run") : n.kind;
          const body = (
            <>
              <rect
                x={p.x}
                y={p.y}
                width={NODE_W}
                height={NODE_H}
                rx={n.kind === "run" ? 4 : 12}
                className={`ln-node ln-${n.kind}${root ? " ln-root" : ""}`}
              />
              <text x={p.x + 8} y={p.y + 16} className="ln-label">
                {clip(n.label, 21)}
              </text>
              <text x={p.x + 8} y={p.y + 30} className="ln-sub">
                {clip(`${n.kind} · ${sub}`, 24)}
              </text>
              <title>{`${n.kind} ${n.label}${n.project ? ` (${n.project})` : ""}`}</title>
            </>
          );
          return (
            <g key={n.id} data-node={n.id} data-kind={n.kind} data-root={root ? "true" : undefined}>
              {to ? (
                <a href={to} onClick={(e) => follow(e, to)} aria-label={`${n.kind} ${n.label}`}>
                  {body}
                </a>
              ) : (
                body
              )}
            </g>
          );
        })}
      </svg>
      <p className="muted small">
        Upstream (what it came from) to the left, downstream (what came of it) to the right; arrows point from producer to
        product and from an input to the run that used it.{truncated && " Some nodes are left out (depth, or projects you cannot read)."}
      </p>
    </div>
  );
}
