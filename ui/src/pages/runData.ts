// Windows of a project's runs, fetched from the server as the table scrolls: never all.
import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import { ApiError, post } from "../api";
import type { RunRow } from "../wire";

export const PAGE = 100;

export interface RunView {
  project: string;
  filter: string;
  sort: string;
}

export interface RunPages {
  total: number | null;
  error: ApiError | Error | null;
  /** Bumped whenever a window arrives (re-render). */
  version: number;
  /** The view changed and its first window is on its way: the rows shown are the previous
   * view's (kept until then, rather than emptied and drawn again). */
  stale: boolean;
  row: (index: number) => RunRow | undefined;
  /** Fetch the windows covering rows [start, end] that are not loaded yet. */
  ensure: (start: number, end: number) => void;
  /** Fetch again the windows covering rows [start, end] if they hold running runs. */
  refreshRunning: (start: number, end: number) => void;
  loadedRuns: () => RunRow[];
  /** Runs matching the view created since it was loaded (and not shown yet); null: none. */
  fresh: NewRuns | null;
  /** The newest run at load is known: new runs can be told apart from now on. */
  watching: boolean;
  /** Ask the server for runs created since the view was loaded (newest first). */
  checkNew: (autoShow: (found: NewRuns) => boolean) => void;
  /** Show the new runs: at the top when sorted newest first, else by loading the view again. */
  showNew: () => void;
  /** Start fetching the first window of ``next`` now (a filter submitted: the request
   * should not wait for the URL to change and the table to render); the load of that
   * view, once it is the current one, takes this request instead of sending another. */
  prime: (next: RunView) => void;
}

export interface NewRuns {
  count: number;
  /** "count" is a lower bound (more than a window's worth arrived). */
  more: boolean;
  /** The newest window of the view, when the view is sorted newest first (shown as is). */
  head: RunRow[] | null;
  /** The columns ``head`` was fetched with (null: full records). */
  cols: string[] | null;
  total: number;
}

type Answer = { runs: RunRow[] };

const viewKey = (v: RunView): string => JSON.stringify([v.project, v.filter, v.sort]);

/** Whether rows fetched with the columns ``got`` (null: full records) show ``want``. */
function covers(got: string[] | null, want: string[] | null): boolean {
  if (got === null) return true;
  if (want === null) return false;
  return want.every((c) => got.includes(c));
}

/** Run ``fn`` once the next frame is drawn (at the latest after 100 ms: a hidden tab draws
 * none), so that work it starts elsewhere does not compete with drawing the rows. */
function afterPaint(fn: () => void): void {
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    fn();
  };
  requestAnimationFrame(() => window.setTimeout(once, 0));
  window.setTimeout(once, 100);
}

/** Whether the view is sorted by start time, newest first (the default order). */
export function newestFirst(sort: string): boolean {
  const s = sort.trim().replace(/\s+/g, " ").toLowerCase();
  return s === "" || s === "run.start_time desc" || s === "start_time desc";
}

/** The body of a search for a window of ``v`` (``cols`` null: full records). */
function searchBody(v: RunView, cols: string[] | null, offset: number, limit = PAGE): Record<string, unknown> {
  const body: Record<string, unknown> = {
    project: v.project,
    filter: v.filter || null,
    order_by: v.sort ? [v.sort] : [],
    limit,
    offset,
  };
  if (cols !== null) body.columns = cols;
  return body;
}

/** Windows of the runs of ``view``. ``columns``: the fields the table shows (the rows then
 * hold only those keys: a window is a fraction of the bytes); null asks for full records
 * (before the project's keys, and so the default columns, are known). */
export function useRunPages(view: RunView, columns: string[] | null): RunPages {
  const pages = useRef(new Map<number, RunRow[]>());
  // the columns each window was fetched with (null: full records)
  const pageCols = useRef(new Map<number, string[] | null>());
  const pending = useRef(new Set<number>());
  // the newest request for each window: the answer to an older one never replaces it
  const latest = useRef(new Map<number, number>());
  const requests = useRef(0);
  const generation = useRef(0);
  const stale = useRef(false);
  // the first window of a view about to be shown, asked for before the URL changed
  const primed = useRef<{ key: string; cols: string[] | null; answer: Promise<Answer> } | null>(null);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [version, bump] = useReducer((n: number) => n + 1, 0);
  const [reloads, reload] = useReducer((n: number) => n + 1, 0);
  // the newest run of the view when it was loaded: runs above it (newest first) are new
  const newest = useRef<string | null | undefined>(undefined);
  const checking = useRef(false);
  const [fresh, setFresh] = useState<NewRuns | null>(null);
  const [watching, setWatching] = useState(false);
  const colsKey = columns === null ? null : columns.join("\n");
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const cols = useMemo(() => columns, [colsKey]);
  const colsRef = useRef(cols);
  useEffect(() => {
    colsRef.current = cols;
  }, [cols]);

  const request = useCallback((index: number): number => {
    requests.current += 1;
    latest.current.set(index, requests.current);
    pending.current.add(index);
    return requests.current;
  }, []);
  /** Whether an answer (to request ``token`` for window ``index`` of generation ``gen``)
   * is the one wanted; if so the window is no longer pending. */
  const wanted = useCallback((gen: number, index: number, token: number): boolean => {
    if (gen !== generation.current || latest.current.get(index) !== token) return false;
    pending.current.delete(index);
    return true;
  }, []);

  const fetchPage = useCallback(
    (index: number, force = false) => {
      if (pending.current.has(index) || stale.current) return;
      if (!force && pages.current.has(index)) return;
      const gen = generation.current;
      const want = colsRef.current;
      const token = request(index);
      post<Answer>("/runs/search", searchBody(view, want, index * PAGE)).then(
        ({ runs }) => {
          if (!wanted(gen, index, token)) return;
          pages.current.set(index, runs);
          pageCols.current.set(index, want);
          // the first window fetched again (running runs in it) shows the newest runs
          if (index === 0 && newestFirst(view.sort) && runs[0]) newest.current = runs[0].id;
          bump();
        },
        (e: unknown) => {
          if (!wanted(gen, index, token)) return;
          setError(e instanceof Error ? e : new Error(String(e)));
        },
      );
    },
    [view, request, wanted],
  );

  useEffect(() => {
    generation.current += 1;
    const gen = generation.current;
    // the previous view's rows stay on screen until this one's first window replaces them
    // (their DOM is then updated in place); no other window is fetched until then
    stale.current = pages.current.size > 0;
    pending.current = new Set();
    latest.current = new Map();
    newest.current = undefined;
    checking.current = false;
    setWatching(false);
    setFresh(null);
    setTotal(null);
    setError(null);
    if (!newestFirst(view.sort)) {
      // another order: the newest run is asked for on its own (one row of no columns)
      post<Answer>("/runs/search", { ...searchBody(view, [], 0, 1), order_by: [] }).then(
        ({ runs }) => {
          if (gen !== generation.current) return;
          newest.current = runs[0]?.id ?? null;
          setWatching(true);
        },
        () => undefined,
      );
    }
    // the first window first, then the count: counting every match costs more than
    // finding the first 100, and the rows should not wait for it (nor be drawn while
    // the server counts: it is asked once they are)
    const counted = (): void => {
      if (gen !== generation.current) return;
      post<{ count: number }>("/runs/count", { project: view.project, filter: view.filter || null }).then(
        ({ count }) => {
          if (gen === generation.current) setTotal(count);
        },
        (e: unknown) => {
          if (gen === generation.current) setError(e instanceof Error ? e : new Error(String(e)));
        },
      );
    };
    // a filter just submitted asked for this window already (see prime): no second request
    const early = primed.current;
    primed.current = null;
    const want = early?.key === viewKey(view) ? early.cols : colsRef.current;
    const answer =
      early?.key === viewKey(view) ? early.answer : post<Answer>("/runs/search", searchBody(view, want, 0));
    const token = request(0);
    answer.then(
      ({ runs }) => {
        if (!wanted(gen, 0, token)) return;
        stale.current = false;
        pages.current = new Map([[0, runs]]);
        pageCols.current = new Map([[0, want]]);
        if (newestFirst(view.sort)) {
          newest.current = runs[0]?.id ?? null;
          setWatching(true);
        }
        bump();
        if (runs.length < PAGE) setTotal(runs.length);
        else afterPaint(counted);
      },
      (e: unknown) => {
        if (!wanted(gen, 0, token)) return;
        stale.current = false;
        pages.current = new Map();
        pageCols.current = new Map();
        bump();
        setError(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }, [view, reloads, request, wanted]);

  // windows fetched with other columns than the table shows now are fetched again (they
  // stay on screen until their new rows arrive)
  useEffect(() => {
    if (stale.current) return;
    for (const index of pages.current.keys()) {
      if (!covers(pageCols.current.get(index) ?? null, cols)) fetchPage(index, true);
    }
  }, [cols, version, fetchPage]);

  const prime = useCallback(
    (next: RunView) => {
      const key = viewKey(next);
      if (key === viewKey(view)) return; // the same view: nothing will be loaded
      const want = colsRef.current;
      const answer = post<Answer>("/runs/search", searchBody(next, want, 0));
      answer.catch(() => undefined); // its error is reported by the load that takes it
      primed.current = { key, cols: want, answer };
    },
    [view],
  );

  const ensure = useCallback(
    (start: number, end: number) => {
      for (let p = Math.floor(start / PAGE); p <= Math.floor(end / PAGE); p += 1) fetchPage(p);
    },
    [fetchPage],
  );

  const refreshRunning = useCallback(
    (start: number, end: number) => {
      if (stale.current) return;
      let any = false;
      for (let p = Math.floor(start / PAGE); p <= Math.floor(end / PAGE); p += 1) {
        const runs = pages.current.get(p);
        if (runs?.some((r) => r.status === "running")) {
          fetchPage(p, true);
          any = true;
        }
      }
      if (any) {
        const gen = generation.current;
        post<{ count: number }>("/runs/count", { project: view.project, filter: view.filter || null }).then(
          ({ count }) => {
            if (gen === generation.current) setTotal(count);
          },
          () => undefined,
        );
      }
    },
    [fetchPage, view.project, view.filter],
  );

  const count = useCallback(
    () => post<{ count: number }>("/runs/count", { project: view.project, filter: view.filter || null }),
    [view.project, view.filter],
  );

  const show = useCallback(
    (found: NewRuns) => {
      if (!found.head) {
        reload(); // another order: the new runs may belong anywhere
        return;
      }
      // newest first: the new window replaces the first one, the others are fetched again
      // as they come into view (their rows moved down)
      generation.current += 1;
      stale.current = false;
      pages.current = new Map([[0, found.head]]);
      pageCols.current = new Map([[0, found.cols]]);
      pending.current = new Set();
      latest.current = new Map();
      checking.current = false; // a check under way belongs to the old generation
      newest.current = found.head[0]?.id ?? null;
      setFresh(null);
      setTotal(found.total);
      bump();
    },
    [],
  );

  const checkNew = useCallback(
    (autoShow: (found: NewRuns) => boolean) => {
      const baseline = newest.current;
      if (baseline === undefined || checking.current) return;
      const gen = generation.current;
      checking.current = true;
      const done = (): void => {
        if (gen === generation.current) checking.current = false;
      };
      const want = colsRef.current;
      post<Answer>("/runs/search", { ...searchBody(view, want, 0), order_by: [] }).then(
        async ({ runs }) => {
          if (gen !== generation.current) return;
          const at = baseline === null ? runs.length : runs.findIndex((r) => r.id === baseline);
          if (at === 0) {
            done();
            return;
          }
          // at < 0: more than a window of new runs (or the newest was deleted): count them
          const counted = await count().then(
            (c) => c.count,
            () => null,
          );
          if (gen !== generation.current) return;
          done();
          if (counted === null) return;
          const shown = total ?? pages.current.get(0)?.length ?? 0;
          const n = at > 0 ? at : Math.max(0, counted - shown);
          if (n === 0) return;
          const found: NewRuns = {
            count: n,
            more: at < 0,
            head: newestFirst(view.sort) ? runs : null,
            cols: want,
            total: counted,
          };
          if (autoShow(found)) show(found);
          else setFresh(found);
        },
        () => done(),
      );
    },
    [count, show, total, view],
  );

  const showNew = useCallback(() => {
    if (fresh) show(fresh);
  }, [fresh, show]);

  const row = useCallback((index: number) => pages.current.get(Math.floor(index / PAGE))?.[index % PAGE], []);
  const loadedRuns = useCallback(() => [...pages.current.values()].flat(), []);
  const firstPage = pages.current.get(0);
  const known = total ?? (firstPage ? firstPage.length : null);
  return {
    total: known,
    error,
    version,
    stale: stale.current,
    row,
    ensure,
    refreshRunning,
    loadedRuns,
    fresh,
    watching,
    checkNew,
    showNew,
    prime,
  };
}
