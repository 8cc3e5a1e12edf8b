import type { ReactNode } from "react";
import { get } from "../api";
import { ErrorBox, Loading } from "../components";
import { useLoad } from "../hooks";
import { Link, paths } from "../router";
import { formatTime } from "../time";
import type { Project } from "../wire";

export function ProjectsPage(): ReactNode {
  const { data, error } = useLoad((signal) => get<Project[]>("/projects", signal), []);
  return (
    <main>
      <h1>Projects</h1>
      <ErrorBox error={error} />
      {data === null && !error && <Loading what="projects" />}
      {data !== null && data.length === 0 && (
        <p className="muted">No projects yet: runs logged with runtrack.init(project=…) appear here.</p>
      )}
      {data !== null && data.length > 0 && (
        <table className="grid" data-testid="projects">
          <thead>
            <tr>
              <th scope="col">Project</th>
              <th scope="col" className="num">
                Runs
              </th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {data.map((p) => (
              <tr key={p.name}>
                <td>
                  <Link to={paths.project(p.name)}>{p.name}</Link>
                </td>
                <td className="num">{p.run_count.toLocaleString()}</td>
                <td>{formatTime(p.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
