// A small client-side router over the History API: the URL is the state of every view.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from "react";

const EVENT = "runtrack-navigate";

function subscribe(notify: () => void): () => void {
  window.addEventListener("popstate", notify);
  window.addEventListener(EVENT, notify);
  return () => {
    window.removeEventListener("popstate", notify);
    window.removeEventListener(EVENT, notify);
  };
}

const snapshot = (): string => window.location.pathname + window.location.search;

export function useLocation(): URL {
  const href = useSyncExternalStore(subscribe, snapshot);
  return new URL(href, window.location.origin);
}

export function navigate(to: string, replace = false): void {
  if (to === snapshot()) return;
  if (replace) window.history.replaceState(null, "", to);
  else window.history.pushState(null, "", to);
  window.dispatchEvent(new Event(EVENT));
}

/** Replace some query parameters of the current URL (null removes one). */
export function setQuery(changes: Record<string, string | null>): void {
  const url = new URL(window.location.href);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === "") url.searchParams.delete(k);
    else url.searchParams.set(k, v);
  }
  navigate(url.pathname + url.search, true);
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string; children: ReactNode };

export function Link({ to, children, ...rest }: LinkProps): ReactNode {
  const onClick = (e: MouseEvent<HTMLAnchorElement>): void => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}

export const paths = {
  projects: (): string => "/ui/",
  project: (p: string): string => `/ui/projects/${encodeURIComponent(p)}`,
  run: (id: string): string => `/ui/runs/${encodeURIComponent(id)}`,
  compare: (ids: string[]): string => `/ui/compare?runs=${ids.map(encodeURIComponent).join(",")}`,
  models: (): string => "/ui/models",
  model: (name: string): string => `/ui/models/${encodeURIComponent(name)}`,
  signIn: (): string => "/ui/signin",
  tokens: (): string => "/ui/tokens",
  sweeps: (p: string): string => `/ui/projects/${encodeURIComponent(p)}/sweeps`,
  sweep: (id: string): string => `/ui/sweeps/${encodeURIComponent(id)}`,
  artifacts: (p: string): string => `/ui/projects/${encodeURIComponent(p)}/artifacts`,
  artifact: (p: string, name: string): string =>
    `/ui/projects/${encodeURIComponent(p)}/artifacts/${encodeURIComponent(name)}`,
};
