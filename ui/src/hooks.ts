import { useEffect, useRef, useState } from "react";
import { errorText } from "./api";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  /** How long the last answer took, in milliseconds. */
  took: number;
  reload: () => void;
}

/** Load something once per change of ``deps`` (stale answers are dropped). A reload that
 * fails keeps the data it would have replaced (beside the error): a poll that meets a
 * passing server error does not blank the page. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean; took: number }>({
    data: null,
    error: null,
    loading: true,
    took: 0,
  });
  const [generation, setGeneration] = useState(0);
  const depsKey = useRef<unknown[] | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    const same = depsKey.current !== null && depsKey.current.length === deps.length && depsKey.current.every((d, i) => Object.is(d, deps[i]));
    depsKey.current = deps;
    const started = performance.now();
    setState((s) => ({ ...s, loading: true }));
    load(ctl.signal).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ data, error: null, loading: false, took: performance.now() - started });
      },
      (e: unknown) => {
        if (!ctl.signal.aborted)
          setState((s) => ({ data: same ? s.data : null, error: errorText(e), loading: false, took: performance.now() - started }));
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation]);
  return { ...state, reload: () => setGeneration((g) => g + 1) };
}

/** Ask ``loaded`` again while the page is visible: ``everyMs`` after each answer, or ten
 * times as long as that answer took when that is longer, so a slow query (an aggregate
 * over 100,000 runs) costs the server at most a tenth of its time per open page. A hidden
 * page asks again when it is shown. */
export function usePoll(loaded: Loaded<unknown>, everyMs: number, enabled = true): void {
  const { loading, took, reload } = loaded;
  const reloadRef = useRef(reload);
  reloadRef.current = reload;
  useEffect(() => {
    if (!enabled || loading) return;
    let waiting = false;
    const shown = (): void => {
      if (document.visibilityState !== "visible") return;
      document.removeEventListener("visibilitychange", shown);
      waiting = false;
      reloadRef.current();
    };
    const timer = window.setTimeout(() => {
      if (document.visibilityState === "visible") {
        reloadRef.current();
        return;
      }
      waiting = true;
      document.addEventListener("visibilitychange", shown);
    }, Math.max(everyMs, 10 * took));
    return () => {
      window.clearTimeout(timer);
      if (waiting) document.removeEventListener("visibilitychange", shown);
    };
  }, [enabled, loading, took, everyMs]);
}
