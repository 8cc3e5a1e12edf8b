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
}

export function useRunPages(view: RunView): RunPages {
  const pages = useRef(new Map<number, Run[]>());
  const pending = useRef(new Set<number>());
  const generation = useRef(0);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [version, bump] = useReducer((n: number) => n + 1, 0);

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
          bump();
        },
        (e: unknown) => {
          if (gen !== generation.current) return;
          pending.current.delete(index);
          setError(e instanceof Error ? e : new Error(String(e)));
        },
      );
    },
    [body],
  );

  useEffect(() => {
    generation.current += 1;
    const gen = generation.current;
    pages.current = new Map();
    pending.current = new Set();
    setTotal(null);
    setError(null);
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
  }, [view.project, view.filter, view.sort, body]);

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

  const row = useCallback((index: number) => pages.current.get(Math.floor(index / PAGE))?.[index % PAGE], []);
  const loadedRuns = useCallback(() => [...pages.current.values()].flat(), []);
  const firstPage = pages.current.get(0);
  const known = total ?? (firstPage ? firstPage.length : null);
  return { total: known, error, version, row, ensure, refreshRunning, loadedRuns };
}
