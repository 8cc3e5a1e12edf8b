// A run's artifacts as a browsable tree, with safe previews: text is shown as text, images
// (PNG, JPEG, GIF, WebP, recognised by their first bytes) from blob: URLs, tables as
// tables. Nothing is ever rendered as HTML, and SVG is shown as text.
import { useEffect, useState, type ReactNode } from "react";
import { blob, enc, errorText, get } from "../api";
import { ErrorBox, Loading } from "../components";
import { formatBytes } from "../format";
import type { ArtifactFile, ArtifactVersion, Run } from "../wire";

const PREVIEW_BYTES = 2 * 1024 * 1024;

interface TreeNode {
  name: string;
  path: string;
  file?: ArtifactFile;
  children: Map<string, TreeNode>;
}

function buildTree(files: ArtifactFile[]): TreeNode {
  const root: TreeNode = { name: "", path: "", children: new Map() };
  for (const f of files) {
    let node = root;
    const parts = f.path.split("/").filter(Boolean);
    parts.forEach((part, i) => {
      let next = node.children.get(part);
      if (!next) {
        next = { name: part, path: parts.slice(0, i + 1).join("/"), children: new Map() };
        node.children.set(part, next);
      }
      node = next;
    });
    node.file = f;
  }
  return root;
}

export function ArtifactsPanel({ run }: { run: Run }): ReactNode {
  const versions: [string, ArtifactVersion][] = [
    ...run.outputs.map((v): [string, ArtifactVersion] => ["produced", v]),
    ...run.used.map((v): [string, ArtifactVersion] => ["used", v]),
  ];
  const [chosen, setChosen] = useState<ArtifactVersion | null>(null);
  if (versions.length === 0) return <p className="muted">no artifacts</p>;
  return (
    <div className="artifacts">
      <ul className="plain">
        {versions.map(([how, v]) => (
          <li key={`${how}:${v.project}/${v.name}:${v.version}`}>
            <button type="button" className="linkish" onClick={() => setChosen(v)} aria-pressed={chosen === v}>
              {v.name}:{v.version}
            </button>{" "}
            <span className="muted small">
              {how} · {v.type} · {v.file_count} files · {formatBytes(v.size)}
              {v.aliases.length > 0 && ` · ${v.aliases.join(", ")}`}
            </span>
          </li>
        ))}
      </ul>
      {chosen && <VersionFiles version={chosen} />}
    </div>
  );
}

function VersionFiles({ version }: { version: ArtifactVersion }): ReactNode {
  const [files, setFiles] = useState<ArtifactFile[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<ArtifactFile | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    setFiles(null);
    setOpen(null);
    get<{ files: ArtifactFile[] }>(
      `/projects/${enc(version.project)}/artifacts/${enc(`${version.name}:${version.version}`)}/files`,
      ctl.signal,
    ).then(
      (r) => setFiles(r.files),
      (e: unknown) => {
        if (!ctl.signal.aborted) setError(errorText(e));
      },
    );
    return () => ctl.abort();
  }, [version]);
  if (error) return <ErrorBox error={error} />;
  if (!files) return <Loading what="files" />;
  return (
    <div className="tree-and-preview">
      <ul className="tree" role="tree" aria-label={`Files of ${version.name}:${version.version}`}>
        <TreeItems node={buildTree(files)} onOpen={setOpen} open={open} />
      </ul>
      {open && <Preview project={version.project} file={open} />}
    </div>
  );
}

function TreeItems({ node, onOpen, open }: { node: TreeNode; onOpen: (f: ArtifactFile) => void; open: ArtifactFile | null }): ReactNode {
  const children = [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <>
      {children.map((child) =>
        child.file && child.children.size === 0 ? (
          <li key={child.path} role="treeitem" aria-selected={open === child.file}>
            <button type="button" className="linkish" onClick={() => child.file && onOpen(child.file)}>
              {child.name}
            </button>{" "}
            <span className="muted small">{formatBytes(child.file.size)}</span>
          </li>
        ) : (
          <li key={child.path} role="treeitem" aria-expanded="true" aria-selected="false">
            <span className="dir">{child.name}/</span>
            <ul role="group">
              <TreeItems node={child} onOpen={onOpen} open={open} />
            </ul>
          </li>
        ),
      )}
    </>
  );
}

type Kind = "image" | "table" | "text" | "binary";

function imageType(bytes: Uint8Array): string | null {
  const starts = (sig: number[]): boolean => sig.every((b, i) => bytes[i] === b);
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (starts([0xff, 0xd8, 0xff])) return "image/jpeg";
  if (starts([0x47, 0x49, 0x46, 0x38])) return "image/gif";
  if (starts([0x52, 0x49, 0x46, 0x46]) && bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50)
    return "image/webp";
  return null;
}

function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  for (let i = 0; i < n; i += 1) if (bytes[i] === 0) return true;
  return false;
}

function Preview({ project, file }: { project: string; file: ArtifactFile }): ReactNode {
  const [state, setState] = useState<{ kind: Kind; text?: string; url?: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    let url: string | null = null;
    setState(null);
    setError(null);
    if (file.ref) {
      setState({ kind: "text", text: `a reference to ${file.ref} (not stored here)` });
      return;
    }
    if (file.size > PREVIEW_BYTES) {
      setState({ kind: "binary", text: `${formatBytes(file.size)}: too large to preview` });
      return;
    }
    blob(project, file.digest, ctl.signal).then(
      (buf) => {
        const bytes = new Uint8Array(buf);
        const img = imageType(bytes);
        if (img) {
          url = URL.createObjectURL(new Blob([bytes], { type: img }));
          setState({ kind: "image", url });
        } else if (looksBinary(bytes)) {
          setState({ kind: "binary", text: "binary content: no preview" });
        } else {
          const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
          const lower = file.path.toLowerCase();
          setState({ kind: lower.endsWith(".csv") || lower.endsWith(".tsv") ? "table" : "text", text });
        }
      },
      (e: unknown) => {
        if (!ctl.signal.aborted) setError(errorText(e));
      },
    );
    return () => {
      ctl.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [project, file]);
  return (
    <div className="preview" data-testid="preview" aria-live="polite">
      <h3 className="mono">{file.path}</h3>
      <ErrorBox error={error} />
      {!state && !error && <Loading what="the preview" />}
      {state?.kind === "image" && state.url && <img src={state.url} alt={`preview of ${file.path}`} />}
      {state?.kind === "text" && (
        <pre className="mono wrap" tabIndex={0}>
          {state.text}
        </pre>
      )}
      {state?.kind === "binary" && <p className="muted">{state.text}</p>}
      {state?.kind === "table" && state.text !== undefined && <CsvTable text={state.text} tab={file.path.toLowerCase().endsWith(".tsv")} />}
    </div>
  );
}

function CsvTable({ text, tab }: { text: string; tab: boolean }): ReactNode {
  const sep = tab ? "\t" : ",";
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0).slice(0, 201);
  const rows = lines.map((l) => l.split(sep));
  const [head, ...body] = rows;
  if (!head) return <p className="muted">empty</p>;
  return (
    <div className="scroll-x">
      <table className="grid">
        <thead>
          <tr>
            {head.map((h, i) => (
              <th key={i} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {body.map((r, i) => (
            <tr key={i}>
              {r.map((c, j) => (
                <td key={j}>{c}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {lines.length > 200 && <p className="muted small">The first 200 rows.</p>}
    </div>
  );
}
