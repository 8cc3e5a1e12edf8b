// The list / detail layout shared by the artifact catalogue and the model registry: a
// table of things (or of one thing's versions) with its loading, error and empty states,
// and the alias history of an artifact or a model. Cells are React nodes (text).
import type { ReactNode } from "react";
import { ErrorBox, Loading } from "../components";
import { formatTime } from "../time";
import type { AliasEvent } from "../wire";

export interface Column<T> {
  header: ReactNode;
  /** Right-aligned (numbers). */
  num?: boolean;
  className?: string;
  cell: (row: T) => ReactNode;
}

interface TableProps<T> {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string | number;
  testId: string;
  /** Attributes of a row (data-*, a class). */
  rowProps?: (row: T) => Record<string, string | undefined>;
}

/** A table of rows, one column per ``columns`` entry. */
export function DataTable<T>({ rows, columns, rowKey, testId, rowProps }: TableProps<T>): ReactNode {
  return (
    <table className="grid" data-testid={testId}>
      <thead>
        <tr>
          {columns.map((c, i) => (
            <th scope="col" key={i} className={c.num ? "num" : undefined}>
              {c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={rowKey(row)} {...rowProps?.(row)}>
            {columns.map((c, i) => {
              const cls = [c.num ? "num" : "", c.className ?? ""].filter(Boolean).join(" ");
              return (
                <td key={i} className={cls || undefined}>
                  {c.cell(row)}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

interface LoadedList<T> {
  data: T[] | null;
  error: string | null;
}

interface ListingProps<T> extends Omit<TableProps<T>, "rows"> {
  loaded: LoadedList<T>;
  /** What is loading ("versions"). */
  what: string;
  /** Said when there are no rows; without it, an empty table. */
  empty?: ReactNode;
  /** Show the error here (a page showing its errors at the top does not). */
  showError?: boolean;
}

/** A table of loaded rows, with "Loading ...", the error or the empty text meanwhile. */
export function Listing<T>({ loaded, what, empty, showError = false, ...table }: ListingProps<T>): ReactNode {
  if (loaded.error) return showError ? <ErrorBox error={loaded.error} /> : null;
  if (!loaded.data) return <Loading what={what} />;
  if (loaded.data.length === 0 && empty !== undefined) return <p className="muted">{empty}</p>;
  return <DataTable rows={loaded.data} {...table} />;
}

/** Who moved which alias, from which version to which, when and why (newest first). */
export function AliasHistory({
  loaded,
  version,
  testId,
  what,
  empty,
  mono = false,
}: {
  loaded: LoadedList<AliasEvent>;
  version: (v: number | string) => string;
  testId: string;
  what: string;
  empty: string;
  mono?: boolean;
}): ReactNode {
  const cls = mono ? "mono" : undefined;
  const events = loaded.data ? [...loaded.data].reverse().map((e, i) => ({ e, i })) : null;
  return (
    <Listing
      loaded={{ data: events, error: loaded.error }}
      what={what}
      empty={empty}
      testId={testId}
      rowKey={(r) => r.i}
      columns={[
        { header: "When", cell: (r) => formatTime(r.e.at) },
        { header: "Alias", cell: (r) => r.e.alias },
        { header: "From", className: cls, cell: (r) => (r.e.from_version === null ? "—" : version(r.e.from_version)) },
        { header: "To", className: cls, cell: (r) => (r.e.to_version === null ? "(removed)" : version(r.e.to_version)) },
        { header: "Who", cell: (r) => r.e.actor },
        { header: "Why", cell: (r) => r.e.reason ?? "" },
      ]}
    />
  );
}
