// The artifact catalogue of a project: artifacts, one artifact's versions, aliases and
// alias history, and the lineage of a version both ways.
import type { ReactNode } from "react";
import { enc, get } from "../api";
import { ErrorBox } from "../components";
import { formatBytes } from "../format";
import { useLoad } from "../hooks";
import { Link, paths, setQuery, useLocation } from "../router";
import { formatTime } from "../time";
import type { AliasEvent, ArtifactVersion } from "../wire";
import { LineagePanel } from "./Lineage";
import { AliasHistory, Listing } from "./Listing";
import { ProjectTabs } from "./Sweeps";

interface ArtifactInfo {
  project: string;
  name: string;
  type: string;
  created_at: number;
  version_count: number;
  latest: string | null;
  aliases: Record<string, string>;
  size: number;
}

/** An alias event's version: "v3" for an artifact, a number for a model version. */
function versionText(v: number | string): string {
  return typeof v === "number" ? `v${v}` : v;
}

function aliasText(aliases: Record<string, string>): string {
  return Object.entries(aliases)
    .map(([a, v]) => `${a} → ${v}`)
    .join(", ");
}

export function ArtifactsPage({ project }: { project: string }): ReactNode {
  const { data, error } = useLoad((signal) => get<ArtifactInfo[]>(`/projects/${enc(project)}/artifacts`, signal), [project]);
  return (
    <main>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to={paths.projects()}>Projects</Link> / <Link to={paths.project(project)}>{project}</Link> / <span>Artifacts</span>
      </nav>
      <h1>Artifacts of {project}</h1>
      <ProjectTabs project={project} current="artifacts" />
      <ErrorBox error={error} />
      <Listing
        loaded={{ data, error }}
        what="artifacts"
        empty="No artifacts in this project yet (run.log_artifact)."
        testId="artifacts"
        rowKey={(a) => a.name}
        columns={[
          { header: "Artifact", cell: (a) => <Link to={paths.artifact(project, a.name)}>{a.name}</Link> },
          { header: "Type", cell: (a) => a.type },
          { header: "Versions", num: true, cell: (a) => a.version_count },
          { header: "Latest", className: "mono", cell: (a) => a.latest ?? "" },
          { header: "Aliases", cell: (a) => aliasText(a.aliases) },
          { header: "Size", num: true, cell: (a) => formatBytes(a.size) },
          { header: "Created", cell: (a) => formatTime(a.created_at) },
        ]}
      />
    </main>
  );
}

export function ArtifactPage({ project, name }: { project: string; name: string }): ReactNode {
  const url = useLocation();
  const base = `/projects/${enc(project)}/artifacts/${enc(name)}`;
  const versions = useLoad((signal) => get<ArtifactVersion[]>(`${base}/versions`, signal), [base]);
  const history = useLoad((signal) => get<AliasEvent[]>(`${base}/alias-history`, signal), [base]);
  const list = versions.data ?? [];
  const latest = list.length > 0 ? list[list.length - 1] : undefined;
  const chosen = url.searchParams.get("v") ?? latest?.version ?? null;
  return (
    <main>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to={paths.projects()}>Projects</Link> / <Link to={paths.project(project)}>{project}</Link> /{" "}
        <Link to={paths.artifacts(project)}>Artifacts</Link> / <span>{name}</span>
      </nav>
      <h1 data-testid="artifact-name">{name}</h1>
      <ErrorBox error={versions.error ?? history.error} />
      <h2>Versions</h2>
      <Listing
        loaded={{ data: versions.data ? [...list].reverse() : null, error: versions.error }}
        what="versions"
        testId="artifact-versions"
        rowKey={(v) => v.version}
        rowProps={(v) => ({ "data-version": v.version, className: v.version === chosen ? "chosen" : undefined })}
        columns={[
          { header: "Version", className: "mono", cell: (v) => v.version },
          { header: "Aliases", cell: (v) => v.aliases.join(", ") },
          { header: "Type", cell: (v) => v.type },
          { header: "Files", num: true, cell: (v) => v.file_count },
          { header: "Size", num: true, cell: (v) => formatBytes(v.size) },
          { header: "Made by", cell: (v) => (v.created_by ? <Link to={paths.run(v.created_by)}>{v.created_by}</Link> : "") },
          { header: "Created", cell: (v) => formatTime(v.created_at) },
          {
            header: "Lineage",
            cell: (v) =>
              v.version === chosen ? (
                <span className="muted">shown below</span>
              ) : (
                <button type="button" className="linkish" onClick={() => setQuery({ v: v.version })}>
                  show {v.version}
                </button>
              ),
          },
        ]}
      />
      <h2>Alias history</h2>
      <AliasHistory
        loaded={history}
        version={versionText}
        testId="artifact-alias-history"
        what="alias history"
        empty="No custom alias has been set."
        mono
      />
      {chosen && (
        <>
          <h2>
            Lineage of {name}:{chosen}
          </h2>
          <LineagePanel root={`artifact:${project}/${name}:${chosen}`} project={project} />
        </>
      )}
    </main>
  );
}
