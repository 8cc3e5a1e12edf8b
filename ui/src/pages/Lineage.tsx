// A lineage graph both ways from a root (a run or an artifact version): upstream nodes to
// the left, downstream to the right, one column per edge of distance. Drawn as SVG of our
// own; labels are SVG text nodes (never markup).
import { useEffect, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import { enc, get } from "../api";
import { ErrorBox, Loading } from "../components";
import { useLoad } from "../hooks";
import { Link, paths } from "../router";

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

/** A node the graph was re-centred on. */
interface Centre {
  id: string;
  label: string;
  kind: string;
  project: string | null;
}

/**
 * The lineage graph of ``root``. Clicking a node (or Enter / Space on it) re-centres the
 * graph on that node without leaving the page; "Back" goes one step back, "Back to ..."
 * to the page's own root, and "Open its page" goes to the centred node's page.
 */
export function LineagePanel({ root, project }: { root: string; project?: string }): ReactNode {
  const [depth, setDepth] = useState("3");
  // the trail of re-centrings, for this root only (another page's root starts afresh)
  const [trail, setTrail] = useState<{ base: string; origin: string | null; stack: Centre[] }>({ base: root, origin: null, stack: [] });
  const stack = trail.base === root ? trail.stack : [];
  const origin = trail.base === root ? trail.origin : null;
  const centre = stack[stack.length - 1];
  const current = centre?.id ?? root;
  const scope = centre ? (centre.project ?? project) : project;
  const [focusCentre, setFocusCentre] = useState(false);
  const q = (direction: string): string =>
    `/lineage?root=${enc(current)}&direction=${direction}${depth ? `&depth=${depth}` : ""}${scope ? `&project=${enc(scope)}` : ""}`;
  const up = useLoad((signal) => get<LineageGraph>(q("up"), signal), [current, scope, depth]);
  const down = useLoad((signal) => get<LineageGraph>(q("down"), signal), [current, scope, depth]);
  const error = up.error ?? down.error;
  const recentre = (n: LineageNode, from: LineageNode | undefined): void => {
    setFocusCentre(true);
    if (n.id === root) {
      setTrail({ base: root, origin: null, stack: [] });
      return;
    }
    const at = stack.findIndex((c) => c.id === n.id);
    const next = at >= 0 ? stack.slice(0, at + 1) : [...stack, { id: n.id, label: n.label, kind: n.kind, project: n.project }];
    setTrail({ base: root, origin: origin ?? (from ? `${from.kind} ${from.label}` : root), stack: next });
  };
  const back = (steps: number | null): void => {
    setFocusCentre(true);
    setTrail({ base: root, origin, stack: steps === null ? [] : stack.slice(0, Math.max(0, stack.length - steps)) });
  };
  const centreLink = centre ? nodeLink({ ...centre, depth: 0, data: {} }) : null;
  const ready = up.data && down.data && up.data.root === current && down.data.root === current;
  return (
    <div className="lineage">
      <div className="ln-controls">
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
        {centre && (
          <p className="ln-trail small" data-testid="lineage-trail" aria-live="polite">
            <span>
              Centred on {centre.kind} <strong>{centre.label}</strong>
            </span>
            {centreLink && <Link to={centreLink}>Open its page</Link>}
            <button type="button" onClick={() => back(1)}>
              Back
            </button>
            {stack.length > 1 && (
              <button type="button" onClick={() => back(null)}>
                Back to {origin ?? "the start"}
              </button>
            )}
          </p>
        )}
      </div>
      <ErrorBox error={error} />
      {!error && !ready && <Loading what="lineage" />}
      {ready && up.data && down.data && (
        <LineageSvg up={up.data} down={down.data} onCentre={recentre} focusCentre={focusCentre} onFocused={() => setFocusCentre(false)} />
      )}
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

interface SvgProps {
  up: LineageGraph;
  down: LineageGraph;
  onCentre: (n: LineageNode, from: LineageNode | undefined) => void;
  focusCentre: boolean;
  onFocused: () => void;
}

function LineageSvg({ up, down, onCentre, focusCentre, onFocused }: SvgProps): ReactNode {
  const svg = useRef<SVGSVGElement>(null);
  useEffect(() => {
    // after a re-centring, the keyboard focus follows the node to its new place
    if (!focusCentre) return;
    svg.current?.querySelector<SVGGElement>("[data-root=true]")?.focus();
    onFocused();
  }, [focusCentre, onFocused, up.root]);
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
  const rootNode = nodes.get(up.root);
  const onKey = (e: KeyboardEvent<SVGGElement>, n: LineageNode): void => {
    if (e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault();
    onCentre(n, rootNode);
  };
  const truncated = up.truncated || down.truncated;
  return (
    <div className="scroll-x">
      <svg
        ref={svg}
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
          const sub = n.kind === "artifact" ? String(n.data.type ?? "artifact") : n.kind === "run" ? String(n.data.status ?? "run") : n.kind;
          const label = clip(n.label, 21);
          const subText = clip(`${n.kind} · ${sub}`, 24);
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
                {label}
                {/* a space between the two lines, for the text read out as the node's name */}{" "}
              </text>
              <text x={p.x + 8} y={p.y + 30} className="ln-sub">
                {subText}
              </text>
              <title>{`${n.kind} ${n.label}${n.project ? ` (${n.project})` : ""}${root ? "" : ": centre the graph here"}`}</title>
            </>
          );
          // the accessible name starts with the visible text (the full name is the title)
          const name = `${label} ${subText}`;
          return root ? (
            <g key={n.id} data-node={n.id} data-kind={n.kind} data-root="true" tabIndex={-1} role="group" aria-label={`centre: ${name}`}>
              {body}
            </g>
          ) : (
            <g
              key={n.id}
              data-node={n.id}
              data-kind={n.kind}
              className="ln-button"
              role="button"
              tabIndex={0}
              aria-label={name}
              onClick={() => onCentre(n, rootNode)}
              onKeyDown={(e) => onKey(e, n)}
            >
              {body}
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
