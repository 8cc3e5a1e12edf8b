import { useState, type FormEvent, type ReactNode } from "react";
import { enc, errorText, get, put } from "../api";
import { ErrorBox, Loading } from "../components";
import { useLoad } from "../hooks";
import { Link, paths } from "../router";
import { canEdit, useSession } from "../session";
import { formatTime } from "../time";
import type { AliasEvent, ModelVersion, RegisteredModel } from "../wire";

export function ModelsPage(): ReactNode {
  const { data, error } = useLoad((signal) => get<RegisteredModel[]>("/models", signal), []);
  return (
    <main>
      <h1>Registered models</h1>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="models" />}
      {data?.length === 0 && <p className="muted">No registered models yet (runtrack.register_model).</p>}
      {data && data.length > 0 && (
        <table className="grid" data-testid="models">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Project</th>
              <th scope="col" className="num">
                Versions
              </th>
              <th scope="col">Aliases</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {data.map((m) => (
              <tr key={m.name}>
                <td>
                  <Link to={paths.model(m.name)}>{m.name}</Link>
                </td>
                <td>{m.project}</td>
                <td className="num">{m.version_count}</td>
                <td>
                  {Object.entries(m.aliases)
                    .map(([a, v]) => `${a} → v${v}`)
                    .join(", ")}
                </td>
                <td>{formatTime(m.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

export function ModelPage({ name }: { name: string }): ReactNode {
  const session = useSession();
  const [tick, setTick] = useState(0);
  const model = useLoad((signal) => get<RegisteredModel>(`/models/${enc(name)}`, signal), [name, tick]);
  const versions = useLoad((signal) => get<ModelVersion[]>(`/models/${enc(name)}/versions`, signal), [name, tick]);
  const history = useLoad((signal) => get<AliasEvent[]>(`/models/${enc(name)}/alias-history`, signal), [name, tick]);
  const m = model.data;
  return (
    <main>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to={paths.models()}>Models</Link> / <span>{name}</span>
      </nav>
      <h1>{name}</h1>
      <ErrorBox error={model.error ?? versions.error ?? history.error} />
      {m && (
        <p>
          Project <Link to={paths.project(m.project)}>{m.project}</Link> · {m.version_count} versions · aliases:{" "}
          {Object.entries(m.aliases).length === 0
            ? "none"
            : Object.entries(m.aliases)
                .map(([a, v]) => `${a} → v${v}`)
                .join(", ")}
        </p>
      )}
      {m?.description && <p className="notes">{m.description}</p>}
      <h2>Versions</h2>
      {versions.data ? (
        <table className="grid" data-testid="versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Aliases</th>
              <th scope="col">Artifact</th>
              <th scope="col">Run</th>
              <th scope="col">Registered</th>
              <th scope="col">By</th>
            </tr>
          </thead>
          <tbody>
            {versions.data.map((v) => (
              <tr key={v.version}>
                <td>v{v.version}</td>
                <td>{v.aliases.join(", ")}</td>
                <td className="mono">
                  {v.artifact.name}:{v.artifact.version}
                </td>
                <td>{v.run_id ? <Link to={paths.run(v.run_id)}>{v.run_id}</Link> : "—"}</td>
                <td>{formatTime(v.created_at)}</td>
                <td>{v.created_by ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        !versions.error && <Loading what="versions" />
      )}
      {m && versions.data && canEdit(session, m.project) && (
        <Promote model={m} versions={versions.data} onDone={() => setTick((t) => t + 1)} />
      )}
      <h2>Audit history</h2>
      {history.data ? (
        history.data.length === 0 ? (
          <p className="muted">No alias has been moved yet.</p>
        ) : (
          <table className="grid" data-testid="audit">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Alias</th>
                <th scope="col">From</th>
                <th scope="col">To</th>
                <th scope="col">Who</th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {[...history.data].reverse().map((e, i) => (
                <tr key={i}>
                  <td>{formatTime(e.at)}</td>
                  <td>{e.alias}</td>
                  <td>{e.from_version === null ? "—" : `v${e.from_version}`}</td>
                  <td>{e.to_version === null ? "(removed)" : `v${e.to_version}`}</td>
                  <td>{e.actor}</td>
                  <td>{e.reason ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : (
        !history.error && <Loading what="history" />
      )}
    </main>
  );
}

function Promote({ model, versions, onDone }: { model: RegisteredModel; versions: ModelVersion[]; onDone: () => void }): ReactNode {
  const [version, setVersion] = useState(String(model.latest_version ?? versions[versions.length - 1]?.version ?? ""));
  const [alias, setAlias] = useState("production");
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (!reason.trim()) {
      setError("Say why: the reason is kept in the audit history.");
      return;
    }
    setBusy(true);
    setError(null);
    put(`/models/${enc(model.name)}/aliases/${enc(alias.trim())}`, { version: Number(version), reason: reason.trim() }).then(
      () => {
        setBusy(false);
        setReason("");
        onDone();
      },
      (err: unknown) => {
        setBusy(false);
        setError(errorText(err));
      },
    );
  };
  return (
    <form className="promote" onSubmit={submit} aria-labelledby="promote-title">
      <h2 id="promote-title">Promote a version</h2>
      <label htmlFor="promote-version">Version</label>
      <select id="promote-version" value={version} onChange={(e) => setVersion(e.target.value)} name="version">
          {versions.map((v) => (
            <option key={v.version} value={v.version}>
              v{v.version}
            </option>
          ))}
      </select>
      <label htmlFor="promote-alias">Alias</label>
      <input id="promote-alias" name="alias" value={alias} onChange={(e) => setAlias(e.target.value)} required />
      <label htmlFor="promote-reason">Reason</label>
      <input
        id="promote-reason"
        className="grow"
        name="reason"
        value={reason}
        onChange={(e) => setReason(e.target.value)}
        placeholder="beats v3 on AUC"
        required
      />
      <button type="submit" disabled={busy}>
        Promote
      </button>
      <ErrorBox error={error} />
    </form>
  );
}
