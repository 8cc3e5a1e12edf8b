import { useState, type ReactNode } from "react";
import { columnLabel, RUN_FIELDS, type KeySets } from "./columns";

interface Props {
  keys: KeySets;
  columns: string[];
  onChange: (columns: string[]) => void;
}

export function ColumnPicker({ keys, columns, onChange }: Props): ReactNode {
  const [query, setQuery] = useState("");
  const chosen = new Set(columns);
  const groups: [string, string[]][] = [
    ["run", Object.keys(RUN_FIELDS)],
    ["config", keys.config.map((k) => `config.${k}`)],
    ["metrics", keys.metrics.map((k) => `metrics.${k}`)],
    ["tags", keys.tags.map((k) => `tags.${k}`)],
  ];
  const q = query.trim().toLowerCase();
  const toggle = (col: string): void => {
    onChange(chosen.has(col) ? columns.filter((c) => c !== col) : [...columns, col]);
  };
  return (
    <details className="picker">
      <summary>Columns ({columns.length})</summary>
      <div className="picker-body">
        <label>
          Find a column{" "}
          <input type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="e.g. lr" />
        </label>
        {groups.map(([name, cols]) => {
          const shown = cols.filter((c) => !q || c.toLowerCase().includes(q));
          if (shown.length === 0) return null;
          return (
            <fieldset key={name}>
              <legend>{name}</legend>
              {shown.slice(0, 300).map((col) => (
                <label key={col} className="check">
                  <input type="checkbox" checked={chosen.has(col)} onChange={() => toggle(col)} />{" "}
                  {name === "run" ? columnLabel(col) : col.slice(name.length + 1)}
                </label>
              ))}
            </fieldset>
          );
        })}
      </div>
    </details>
  );
}
