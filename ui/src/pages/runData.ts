// Windows of a project's runs, fetched from the server as the table scrolls: never all.
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { ApiError, post } from "../api";
import type { Run } from "../wire";

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
  row: (index: number) => Run | undefined;
  /** Fetch the windows covering rows [start, end] that are not loaded yet. */
  ensure: (start: number, end: number) => void;
  /** Fetch again the windows covering rows [start, end] if they hold running runs. */
  refreshRunning: (start: number, end: number) => void;
  loadedRuns: () => Run[];
  /** Runs matching the view created since it was loaded (and not shown yet); null: none. */
  fresh: NewRuns | null;
  /** The newest run at load is known: new runs can be told apart from now on. */
  watching: boolean;
  /** Ask the server for runs created since the view was loaded (newest first). */
  checkNew: (autoShow: (found: NewRuns) => boolean) => void;
  /** Show the new runs: at the top when sorted newest first, else by loading the view again. */
  showNew: () => void;
}

export interface NewRuns {
  count: number;
  /** "count" is a lower bound (more than a window's worth arrived). */
  more: boolean;
  /** The newest window of the view, when the view is sorted newest first (shown as is). */
  head: Run[] | null;
  total: number;
}

/** Whether the view is sorted by start time, newest first (the default order). */
export function newestFirst(sort: string): boolean {
  const s = sort.trim().replace(/\s+/g, " ").toLowerCase();
  return s === "" || s === "run.start_time desc" || s === "start_time desc";
}

export function useRunPages(view: RunView): RunPages {
  const pages = useRef(new Map<number, Run[]>());
  const pending = useRef(new Set<number>());
  const generation = useRef(0);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [version, bump] = useReducer((n: number) => n + 1, 0);
  const [reloads, reload] = useReducer((n: number) => n + 1, 0);
  // the newest run of the view when it was loaded: runs above it (newest first) are new
  const newest = useRef<string | null | undefined>(undefined);
  const checking = useRef(false);
  const [fresh, setFresh] = useState<NewRuns | null>(null);
  const [watching, setWatching] = useState(false);

  const body = useCallback(
    (offset: number) => ({
      project: view.project,
      filter: view.filter || null,
      order_by: view.sort ? [view.sort] : [],
      limit: PAGE,
      offset,
    }),
    [view.project, view.filter, view.sort],
  );

  const fetchPage = useCallback(
    (index: number, force = false) => {
      if (!force && (pages.current.has(index) || pending.current.has(index))) return;
      if (pending.current.has(index)) return;
      const gen = generation.current;
      pending.current.add(index);
      post<{ runs: Run[] }>("/runs/search", body(index * PAGE)).then(
        ({ runs }) => {
          if (gen !== generation.current) return;
          pending.current.delete(index);
          pages.current.set(index, runs);
          // the first window fetched again (running runs in it) shows the newest runs
          if (index === 0 && newestFirst(view.sort) && runs[0]) newest.current = runs[0].id;
          bump();
        },
        (e: unknown) => {
          if (gen !== generation.current) return;
          pending.current.delete(index);
          setError(e instanceof Error ? e : new Error(String(e)));
        },
      );
    },
    [body, view.sort],
  );

  useEffect(() => {
    generation.current += 1;
    const gen = generation.current;
    pages.current = new Map();
    pending.current = new Set();
    newest.current = undefined;
    checking.current = false;
    setWatching(false);
    setFresh(null);
    setTotal(null);
    setError(null);
    if (!newestFirst(view.sort)) {
      // another order: the newest run is asked for on its own (one row, cheap)
      post<{ runs: Run[] }>("/runs/search", { ...body(0), order_by: [], limit: 1 }).then(
        ({ runs }) => {
          if (gen !== generation.current) return;
          newest.current = runs[0]?.id ?? null;
          setWatching(true);
        },
        () => undefined,
      );
    }
    // the first window first, then the count: counting every match costs more than
    // finding the first 100, and the rows should not wait for it
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
    pending.current.add(0);
    post<{ runs: Run[] }>("/runs/search", body(0)).then(
      ({ runs }) => {
        if (gen !== generation.current) return;
        pending.current.delete(0);
        pages.current.set(0, runs);
        if (newestFirst(view.sort)) {
          newest.current = runs[0]?.id ?? null;
          setWatching(true);
        }
        bump();
        if (runs.length < PAGE) setTotal(runs.length);
        else counted();
      },
      (e: unknown) => {
        if (gen !== generation.current) return;
        pending.current.delete(0);
        setError(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }, [view.project, view.filter, view.sort, body, reloads]);

  const ensure = useCallback(
    (start: number, end: number) => {
      for (let p = Math.floor(start / PAGE); p <= Math.floor(end / PAGE); p += 1) fetchPage(p);
    },
    [fetchPage],
  );

  const refreshRunning = useCallback(
    (start: number, end: number) => {
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
      pages.current = new Map([[0, found.head]]);
      pending.current = new Set();
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
      post<{ runs: Run[] }>("/runs/search", { ...body(0), order_by: [] }).then(
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
            total: counted,
          };
          if (autoShow(found)) show(found);
          else setFresh(found);
        },
        () => done(),
      );
    },
    [body, count, show, total, view.sort],
  );

  const showNew = useCallback(() => {
    if (fresh) show(fresh);
  }, [fresh, show]);

  const row = useCallback((index: number) => pages.current.get(Math.floor(index / PAGE))?.[index % PAGE], []);
  const loadedRuns = useCallback(() => [...pages.current.values()].flat(), []);
  const firstPage = pages.current.get(0);
  const known = total ?? (firstPage ? firstPage.length : null);
  return { total: known, error, version, row, ensure, refreshRunning, loadedRuns, fresh, watching, checkNew, showNew };
}
