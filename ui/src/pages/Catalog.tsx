// The artifact catalogue of a project: artifacts, one artifact's versions, aliases and
// alias history, and the lineage of a version both ways.
import type { ReactNode } from "react";
import { enc, get } from "../api";
import { ErrorBox, Loading } from "../components";
import { formatBytes } from "../format";
import { useLoad } from "../hooks";
import { Link, paths, setQuery, useLocation } from "../router";
import { formatTime } from "../time";
import type { AliasEvent, ArtifactVersion } from "../wire";
import { LineagePanel } from "./Lineage";
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
      {!data && !error && <Loading what="artifacts" />}
      {data?.length === 0 && <p className="muted">No artifacts in this project yet (run.log_artifact).</p>}
      {data && data.length > 0 && (
        <table className="grid" data-testid="artifacts">
          <thead>
            <tr>
              <th scope="col">Artifact</th>
              <th scope="col">Type</th>
              <th scope="col" className="num">
                Versions
              </th>
              <th scope="col">Latest</th>
              <th scope="col">Aliases</th>
              <th scope="col" className="num">
                Size
              </th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {data.map((a) => (
              <tr key={a.name}>
                <td>
                  <Link to={paths.artifact(project, a.name)}>{a.name}</Link>
                </td>
                <td>{a.type}</td>
                <td className="num">{a.version_count}</td>
                <td className="mono">{a.latest ?? ""}</td>
                <td>{aliasText(a.aliases)}</td>
                <td className="num">{formatBytes(a.size)}</td>
                <td>{formatTime(a.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
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
      {versions.data ? (
        <table className="grid" data-testid="artifact-versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Aliases</th>
              <th scope="col">Type</th>
              <th scope="col" className="num">
                Files
              </th>
              <th scope="col" className="num">
                Size
              </th>
              <th scope="col">Made by</th>
              <th scope="col">Created</th>
              <th scope="col">Lineage</th>
            </tr>
          </thead>
          <tbody>
            {[...list].reverse().map((v) => (
              <tr key={v.version} data-version={v.version} className={v.version === chosen ? "chosen" : undefined}>
                <td className="mono">{v.version}</td>
                <td>{v.aliases.join(", ")}</td>
                <td>{v.type}</td>
                <td className="num">{v.file_count}</td>
                <td className="num">{formatBytes(v.size)}</td>
                <td>{v.created_by ? <Link to={paths.run(v.created_by)}>{v.created_by}</Link> : ""}</td>
                <td>{formatTime(v.created_at)}</td>
                <td>
                  {v.version === chosen ? (
                    <span className="muted">shown below</span>
                  ) : (
                    <button type="button" className="linkish" onClick={() => setQuery({ v: v.version })}>
                      show {v.version}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        !versions.error && <Loading what="versions" />
      )}
      <h2>Alias history</h2>
      {history.data ? (
        history.data.length === 0 ? (
          <p className="muted">No custom alias has been set.</p>
        ) : (
          <table className="grid" data-testid="artifact-alias-history">
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
                  <td className="mono">{e.from_version === null ? "—" : versionText(e.from_version)}</td>
                  <td className="mono">{e.to_version === null ? "(removed)" : versionText(e.to_version)}</td>
                  <td>{e.actor}</td>
                  <td>{e.reason ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : (
        !history.error && <Loading what="alias history" />
      )}
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
