import { useCallback, useEffect, useState, type ReactNode } from "react";
import { ApiError, errorText, get, getToken, setToken } from "./api";
import { Link, navigate, paths, useLocation } from "./router";
import { SessionContext, type Session } from "./session";
import { viewerZone } from "./time";
import type { Me } from "./wire";
import { ArtifactPage, ArtifactsPage } from "./pages/Catalog";
import { ComparePage } from "./pages/Compare";
import { ModelPage, ModelsPage } from "./pages/Models";
import { ProjectsPage } from "./pages/Projects";
import { RunPage } from "./pages/Run";
import { RunTablePage } from "./pages/RunTable";
import { SignInPage } from "./pages/SignIn";
import { SweepPage, SweepsPage } from "./pages/Sweeps";
import { TokensPage } from "./pages/Tokens";

const PROVISIONAL: Session = { me: { name: "", admin: false, token_id: null, projects: {} }, auth: false };

type State = { kind: "loading" } | { kind: "signin" } | { kind: "ready"; session: Session } | { kind: "error"; message: string };

function useSessionState(): [State, () => void] {
  const [state, setState] = useState<State>({ kind: "loading" });
  const load = useCallback(() => {
    get<Me>("/auth/me").then(
      (me) => setState({ kind: "ready", session: { me, auth: me.token_id !== null } }),
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 401) setState({ kind: "signin" });
        else setState({ kind: "error", message: errorText(e) });
      },
    );
  }, []);
  useEffect(() => {
    load();
    const again = (): void => load();
    const unauthenticated = (): void => setState({ kind: "signin" });
    window.addEventListener("runtrack-auth", again);
    window.addEventListener("runtrack-unauthenticated", unauthenticated);
    return () => {
      window.removeEventListener("runtrack-auth", again);
      window.removeEventListener("runtrack-unauthenticated", unauthenticated);
    };
  }, [load]);
  return [state, load];
}

function Page({ url }: { url: URL }): ReactNode {
  const parts = url.pathname.replace(/^\/ui\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [first, second, third] = parts;
  if (!first) return <ProjectsPage />;
  if (first === "projects" && second && third === "sweeps") return <SweepsPage project={second} />;
  if (first === "projects" && second && third === "artifacts" && parts[3]) return <ArtifactPage project={second} name={parts[3]} />;
  if (first === "projects" && second && third === "artifacts") return <ArtifactsPage project={second} />;
  if (first === "projects" && second && !third) return <RunTablePage project={second} />;
  if (first === "sweeps" && second) return <SweepPage id={second} />;
  if (first === "runs" && second) return <RunPage runId={second} />;
  if (first === "compare") return <ComparePage ids={(url.searchParams.get("runs") ?? "").split(",").filter(Boolean)} />;
  if (first === "models" && second) return <ModelPage name={second} />;
  if (first === "models") return <ModelsPage />;
  if (first === "tokens") return <TokensPage />;
  if (first === "signin") return <SignInPage />;
  return (
    <main>
      <h1>Not found</h1>
      <p>
        Nothing here. <Link to={paths.projects()}>Projects</Link>
      </p>
    </main>
  );
}

export function App(): ReactNode {
  const url = useLocation();
  const [state] = useSessionState();
  if (state.kind === "error") return <p className="error" role="alert">{state.message}</p>;
  if (state.kind === "signin") return <SignInPage />;
  // while "who am I" is asked, the page loads its data already, shown as to a viewer
  const session = state.kind === "ready" ? state.session : PROVISIONAL;
  const signOut = (): void => {
    setToken(null);
    navigate(paths.signIn());
  };
  return (
    <SessionContext.Provider value={session}>
      <a className="skip" href="#content">
        Skip to content
      </a>
      <header className="top">
        <Link to={paths.projects()} className="brand">
          runtrack
        </Link>
        <nav aria-label="Main">
          <Link to={paths.projects()}>Projects</Link>
          <Link to={paths.models()}>Models</Link>
          {session.auth && <Link to={paths.tokens()}>API tokens</Link>}
        </nav>
        <span className="spacer" />
        <span className="muted" title="All times are shown in this time zone" data-testid="zone">
          Times in {viewerZone}
        </span>
        <span className="user">{session.me.name}</span>
        {session.auth && getToken() && (
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <div id="content">
        <Page url={url} />
      </div>
    </SessionContext.Provider>
  );
}
