import type { ReactNode } from "react";
import type { RunStatus } from "./wire";

export function StatusBadge({ status }: { status: RunStatus | string }): ReactNode {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {status}
    </span>
  );
}

export function ErrorBox({ error }: { error: string | null }): ReactNode {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error}
    </p>
  );
}

export function Loading({ what }: { what: string }): ReactNode {
  return <p className="muted" aria-live="polite">Loading {what}…</p>;
}

/** A two-column table of keys and values, as text. */
export function KeyValues({ rows, empty }: { rows: [string, ReactNode][]; empty?: string }): ReactNode {
  if (rows.length === 0) return <p className="muted">{empty ?? "none"}</p>;
  return (
    <table className="kv">
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
