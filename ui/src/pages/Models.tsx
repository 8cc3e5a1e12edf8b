import { useState, type FormEvent, type ReactNode } from "react";
import { enc, errorText, get, put } from "../api";
import { ErrorBox } from "../components";
import { useLoad } from "../hooks";
import { Link, paths } from "../router";
import { canEdit, useSession } from "../session";
import { formatTime } from "../time";
import type { AliasEvent, ModelVersion, RegisteredModel } from "../wire";
import { AliasHistory, Listing } from "./Listing";

export function ModelsPage(): ReactNode {
  const { data, error } = useLoad((signal) => get<RegisteredModel[]>("/models", signal), []);
  return (
    <main>
      <h1>Registered models</h1>
      <ErrorBox error={error} />
      <Listing
        loaded={{ data, error }}
        what="models"
        empty="No registered models yet (runtrack.register_model)."
        testId="models"
        rowKey={(m) => m.name}
        columns={[
          { header: "Model", cell: (m) => <Link to={paths.model(m.name)}>{m.name}</Link> },
          { header: "Project", cell: (m) => m.project },
          { header: "Versions", num: true, cell: (m) => m.version_count },
          {
            header: "Aliases",
            cell: (m) =>
              Object.entries(m.aliases)
                .map(([a, v]) => `${a} → v${v}`)
                .join(", "),
          },
          { header: "Created", cell: (m) => formatTime(m.created_at) },
        ]}
      />
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
      <Listing
        loaded={versions}
        what="versions"
        testId="versions"
        rowKey={(v) => v.version}
        columns={[
          { header: "Version", cell: (v) => `v${v.version}` },
          { header: "Aliases", cell: (v) => v.aliases.join(", ") },
          { header: "Artifact", className: "mono", cell: (v) => `${v.artifact.name}:${v.artifact.version}` },
          { header: "Run", cell: (v) => (v.run_id ? <Link to={paths.run(v.run_id)}>{v.run_id}</Link> : "—") },
          { header: "Registered", cell: (v) => formatTime(v.created_at) },
          { header: "By", cell: (v) => v.created_by ?? "" },
        ]}
      />
      {m && versions.data && canEdit(session, m.project) && (
        <Promote model={m} versions={versions.data} onDone={() => setTick((t) => t + 1)} />
      )}
      <h2>Audit history</h2>
      <AliasHistory loaded={history} version={(v) => `v${v}`} testId="audit" what="history" empty="No alias has been moved yet." />
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
