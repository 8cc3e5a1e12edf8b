import { useVirtualizer } from "@tanstack/react-virtual";
import {
  memo,
  useCallback,
  useEffect,
  useMemo,
  useRef,
  useState,
  type FormEvent,
  type KeyboardEvent,
  type ReactNode,
} from "react";
import { ApiError, enc, get } from "../api";
import { useLoad } from "../hooks";
import { Link, navigate, paths, setQuery, useLocation } from "../router";
import { ColumnPicker } from "./ColumnPicker";
import { cell, columnLabel, defaultColumns, keyColumns, keysOf, sortField, type KeySets } from "./columns";
import { useRunPages, type NewRuns } from "./runData";
import type { RunRow } from "../wire";
import { GroupBar, GroupsTable } from "./Groups";
import { ProjectTabs } from "./Sweeps";

const ROW_HEIGHT = 34;
const HEAD_HEIGHT = 36;

function columnWidth(col: string): number {
  if (col === "run.name") return 240;
  if (col === "run.start_time" || col === "run.end_time") return 220;
  if (col === "run.status") return 110;
  return 150;
}
const POLL_MS = 5000;

function parseSort(sort: string): { field: string; desc: boolean } | null {
  const m = /^(\S+)\s+(asc|desc)$/i.exec(sort.trim());
  if (!m || !m[1] || !m[2]) return sort.trim() ? { field: sort.trim(), desc: false } : null;
  return { field: m[1], desc: m[2].toLowerCase() === "desc" };
}

interface RowProps {
  run: RunRow | undefined;
  index: number;
  top: number;
  active: boolean;
  checked: boolean;
  columns: string[];
  gridTemplate: string;
  onToggle: (id: string) => void;
}

/** One row of the table: drawn again only when its run, place or state changes (not on
 * every render of the page: a filter typed, the count arriving, a poll). */
const TableRow = memo(function TableRow({
  run,
  index,
  top,
  active,
  checked,
  columns,
  gridTemplate,
  onToggle,
}: RowProps): ReactNode {
  return (
    <div
      role="row"
      aria-rowindex={index + 2}
      id={`rt-row-${index}`}
      aria-selected={active}
      className={`rt-row${index % 2 ? " odd" : ""}${active ? " active" : ""}`}
      data-run={run?.id}
      style={{ gridTemplateColumns: gridTemplate, height: ROW_HEIGHT, transform: `translateY(${top}px)` }}
    >
      <span role="gridcell" className="rt-cell">
        {run && (
          <input type="checkbox" aria-label={`select ${run.name}`} checked={checked} onChange={() => onToggle(run.id)} />
        )}
      </span>
      {columns.map((col) => (
        <span role="gridcell" className="rt-cell" key={col} data-col={col}>
          {run ? cell(run, col) : <span className="placeholder">…</span>}
        </span>
      ))}
    </div>
  );
});

export function RunTablePage({ project }: { project: string }): ReactNode {
  const url = useLocation();
  const filter = url.searchParams.get("filter") ?? "";
  const sort = url.searchParams.get("sort") ?? "";
  const colsParam = url.searchParams.get("cols");
  const [draft, setDraft] = useState(filter);
  const [selected, setSelected] = useState<string[]>([]);
  const view = useMemo(() => ({ project, filter, sort }), [project, filter, sort]);
  const scroller = useRef<HTMLDivElement>(null);

  // the keys offered as columns and for grouping: the project's (asked once), or, if the
  // server cannot say, those of the runs loaded so far
  const projectKeys = useLoad((signal) => get<KeySets>(`/projects/${enc(project)}/keys`, signal), [project]);
  const [seenKeys, setSeenKeys] = useState<KeySets>({ config: [], metrics: [], tags: [] });
  const keys = projectKeys.data ?? seenKeys;
  const columns = useMemo(
    () => (colsParam !== null ? colsParam.split(",").filter(Boolean) : defaultColumns(keys)),
    [colsParam, keys],
  );
  // rows hold only the columns shown once the project's keys are known (until then, and
  // if the server cannot say, full records: the keys are read from the runs themselves)
  const data = useRunPages(view, projectKeys.data ? keyColumns(columns) : null);

  useEffect(() => setDraft(filter), [filter]);
  const { ensure, refreshRunning, loadedRuns, version, checkNew, showNew, fresh, prime } = data;
  useEffect(() => {
    if (projectKeys.data) return;
    const next = keysOf(loadedRuns());
    setSeenKeys((old) =>
      old.config.length === next.config.length &&
      old.metrics.length === next.metrics.length &&
      old.tags.length === next.tags.length
        ? old
        : next,
    );
  }, [version, loadedRuns, projectKeys.data]);
  const groupBy = url.searchParams.get("group") ?? "";
  const groupMetric = url.searchParams.get("gmetric") ?? "";

  const total = data.total ?? 0;
  const virtualizer = useVirtualizer({
    count: total,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 20,
    scrollMargin: HEAD_HEIGHT, // the sticky header above the rows, inside the scroller
    scrollPaddingStart: HEAD_HEIGHT, // a row scrolled to is not hidden under the header
  });
  // keyboard navigation: the table takes the focus; arrows move the active row, Enter
  // opens its run, Space selects it for Compare
  const [active, setActive] = useState<number | null>(null);
  useEffect(() => {
    setActive(null);
    // a new view starts at its top (the previous rows stay until its first ones arrive)
    if (scroller.current) scroller.current.scrollTop = 0;
  }, [view]);
  const items = virtualizer.getVirtualItems();
  const first = items[0]?.index ?? 0;
  const last = items[items.length - 1]?.index ?? 0;

  useEffect(() => {
    if (total > 0) ensure(first, last);
  }, [first, last, total, ensure, version]);

  useEffect(() => {
    // new runs of the view: shown at once when the table is scrolled to its top and sorted
    // newest first, else announced by a bar (the rows the user looks at do not move)
    const autoShow = (found: NewRuns): boolean => {
      if (!found.head || (scroller.current?.scrollTop ?? 0) > 2) return false;
      setActive((a) => (a === null ? null : a + found.count));
      return true;
    };
    const timer = window.setInterval(() => {
      if (document.visibilityState !== "visible") return;
      refreshRunning(first, last);
      checkNew(autoShow);
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [first, last, refreshRunning, checkNew]);
  const showFresh = (): void => {
    const sorted = fresh?.head !== null;
    showNew();
    setActive(null);
    if (sorted) virtualizer.scrollToOffset(0);
  };

  // the first window of a new filter or order is asked for at once (not after the URL
  // changed and the page rendered); the URL still holds the view, to share it
  const applyFilter = (e: FormEvent): void => {
    e.preventDefault();
    const next = draft.trim();
    prime({ project, filter: next, sort });
    setQuery({ filter: next || null });
  };
  const clearFilter = (): void => {
    prime({ project, filter: "", sort });
    setQuery({ filter: null });
  };
  const current = parseSort(sort);
  const sortBy = (col: string): void => {
    const field = sortField(col);
    let next: string | null = `${field} asc`;
    if (current?.field === field) next = current.desc ? null : `${field} desc`;
    prime({ project, filter, sort: next ?? "" });
    setQuery({ sort: next });
  };
  const setColumns = (cols: string[]): void => setQuery({ cols: cols.join(",") });
  const toggle = useCallback(
    (id: string): void => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id])),
    [],
  );

  const onTableKey = (e: KeyboardEvent<HTMLDivElement>): void => {
    if (e.target !== e.currentTarget || total === 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    const page = Math.max(1, items.length - 2 * 20 - 2);
    const here = active ?? -1;
    let next: number | null = null;
    if (e.key === "ArrowDown") next = here + 1;
    else if (e.key === "ArrowUp") next = here <= 0 ? 0 : here - 1;
    else if (e.key === "PageDown") next = here + page;
    else if (e.key === "PageUp") next = here - page;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = total - 1;
    else if ((e.key === "Enter" || e.key === " ") && active !== null) {
      e.preventDefault();
      const run = data.row(active);
      if (!run) return;
      if (e.key === "Enter") navigate(paths.run(run.id));
      else toggle(run.id);
      return;
    }
    if (next === null) return;
    e.preventDefault();
    const clamped = Math.min(total - 1, Math.max(0, next));
    setActive(clamped);
    virtualizer.scrollToIndex(clamped, { align: "auto" });
  };
  const activeRun = active === null ? undefined : data.row(active);

  const queryError = data.error instanceof ApiError && data.error.status < 500 ? data.error : null;
  const otherError = data.error && !queryError ? data.error.message : null;
  const widths = [44, ...columns.map(columnWidth)];
  const gridTemplate = widths.map((w) => `${w}px`).join(" ");
  const tableWidth = widths.reduce((a, b) => a + b, 0);

  return (
    <main className="wide">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to={paths.projects()}>Projects</Link> / <span>{project}</span>
      </nav>
      <h1>{project}</h1>
      <ProjectTabs project={project} current="runs" />
      <form className="filter" onSubmit={applyFilter} role="search">
        <label htmlFor="filter">Filter</label>
        <input
          id="filter"
          name="filter"
          className="mono"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          placeholder="metrics.auc > 0.9 and config.lr < 1e-3"
          spellCheck={false}
          autoComplete="off"
          aria-invalid={queryError !== null}
          aria-describedby="filter-error"
        />
        <button type="submit">Apply</button>
        {filter && (
          <button type="button" onClick={clearFilter}>
            Clear
          </button>
        )}
        <ColumnPicker keys={keys} columns={columns} onChange={setColumns} />
        <button
          type="button"
          disabled={selected.length < 2}
          onClick={() => navigate(paths.compare(selected))}
          data-testid="compare"
        >
          Compare ({selected.length})
        </button>
      </form>
      <div id="filter-error" aria-live="polite">
        {queryError && (
          <pre className="error query-error" role="alert" data-testid="filter-error">
            {queryError.message}
          </pre>
        )}
      </div>
      {otherError && (
        <p className="error" role="alert">
          {otherError}
        </p>
      )}
      <GroupBar keys={keys} by={groupBy} metric={groupMetric} />
      {groupBy && <GroupsTable project={project} filter={filter} by={groupBy} metric={groupMetric} />}
      <p className="muted" data-testid="run-count" aria-live="polite">
        {data.total === null ? "Counting runs…" : `${data.total.toLocaleString()} runs`}
      </p>
      <div aria-live="polite">
        {fresh && (
          <p className="new-runs" data-testid="new-runs">
            <span>
              {fresh.count.toLocaleString()}
              {fresh.more ? "+" : ""} new run{fresh.count === 1 && !fresh.more ? "" : "s"} ({fresh.total.toLocaleString()} in
              all)
            </span>
            <button type="button" onClick={showFresh}>
              {fresh.head ? "Show" : "Reload"}
            </button>
          </p>
        )}
      </div>
      <p className="sr-only" id="rt-keys">
        Arrow keys move between runs, Enter opens one, Space selects it for Compare.
      </p>
      <div
        className="runtable"
        role="grid"
        aria-label={`Runs of ${project}`}
        aria-rowcount={total + 1}
        aria-describedby="rt-keys"
        aria-activedescendant={active !== null && activeRun ? `rt-row-${active}` : undefined}
        tabIndex={0}
        onKeyDown={onTableKey}
        data-testid="run-grid"
        data-watching={data.watching ? "true" : undefined}
        aria-busy={data.stale || undefined}
      >
        <div className="rt-body" ref={scroller} data-testid="run-rows">
          <div style={{ width: tableWidth }}>
          <div className="rt-head" role="row" style={{ gridTemplateColumns: gridTemplate, height: HEAD_HEIGHT }}>
            <span role="columnheader" className="rt-cell">
              <span className="sr-only">select</span>
            </span>
            {columns.map((col) => {
              const active = current?.field === sortField(col);
              const dir = active ? (current?.desc ? "descending" : "ascending") : "none";
              return (
                <span role="columnheader" aria-sort={dir} className="rt-cell" key={col}>
                  <button type="button" className="sort" onClick={() => sortBy(col)} title={`Sort by ${col}`}>
                    {columnLabel(col)}
                    <span aria-hidden="true">{active ? (current?.desc ? " ▼" : " ▲") : ""}</span>
                  </button>
                </span>
              );
            })}
          </div>
          <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
            {items.map((item) => {
              const run = data.row(item.index);
              return (
                <TableRow
                  key={item.key}
                  run={run}
                  index={item.index}
                  top={item.start - HEAD_HEIGHT}
                  active={item.index === active}
                  checked={run !== undefined && selected.includes(run.id)}
                  columns={columns}
                  gridTemplate={gridTemplate}
                  onToggle={toggle}
                />
              );
            })}
          </div>
          </div>
        </div>
      </div>
    </main>
  );
}
