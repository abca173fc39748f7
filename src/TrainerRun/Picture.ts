// The graph as a picture (Graphviz DOT or Mermaid), readable at 10,000 nodes: fits are grouped per
// family and sweep points into one box, each box saying how many nodes it holds and, for a job,
// how many are in each status. Pure: the same graph gives the same text.

export interface PictureNode {
  /** The node's key within its job (`fit.xgboost.t3.f1`). */
  readonly key: string
  readonly kind: string
  /** Keys of the nodes it depends on. */
  readonly deps: ReadonlyArray<string>
  readonly params?: Readonly<Record<string, unknown>>
  readonly status?: string
}

export type PictureFormat = "dot" | "mermaid"

interface Box {
  readonly id: string
  readonly title: string
  readonly members: Array<PictureNode>
}

const groupKey = (n: PictureNode) =>
  n.kind === "fit" ? `fit.${String(n.params?.family ?? "?")}` : n.kind === "sweep_point" ? "sweep_point" : n.key

const groupTitle = (n: PictureNode) =>
  n.kind === "fit" ? `fit ${String(n.params?.family ?? "?")}` : n.kind === "sweep_point" ? "sweep points" : n.key

const STATUS_ORDER = ["leased", "ready", "pending", "succeeded", "failed", "skipped", "cancelled"]

/** The status a box is drawn in: work under way first, then what is waiting, then how it ended. */
const boxStatus = (members: ReadonlyArray<PictureNode>): string | undefined => {
  const statuses = new Set(members.map((m) => m.status).filter((s): s is string => s !== undefined))
  if (statuses.size === 0) return undefined
  if (statuses.size === 1) return [...statuses][0]
  for (const s of ["leased", "ready", "pending"]) if (statuses.has(s)) return s
  // Settled: any failure shows, so a box with failed fits is not drawn as a plain success.
  return statuses.has("failed") ? "failed" : statuses.has("succeeded") ? "succeeded" : [...statuses][0]
}

const counts = (members: ReadonlyArray<PictureNode>) => {
  const by = new Map<string, number>()
  for (const m of members) if (m.status) by.set(m.status, (by.get(m.status) ?? 0) + 1)
  return [...by].sort(([a], [b]) => STATUS_ORDER.indexOf(a) - STATUS_ORDER.indexOf(b)).map(([s, n]) => `${n} ${s}`).join(", ")
}

/** Boxes in graph order, and the edges between them (no duplicates, no loops). */
export const boxes = (nodes: ReadonlyArray<PictureNode>) => {
  const byGroup = new Map<string, Box>()
  const groupOfKey = new Map<string, string>()
  for (const n of nodes) {
    const g = groupKey(n)
    groupOfKey.set(n.key, g)
    let box = byGroup.get(g)
    if (!box) byGroup.set(g, (box = { id: `n${byGroup.size}`, title: groupTitle(n), members: [] }))
    box.members.push(n)
  }
  const edges = new Map<string, readonly [string, string]>()
  for (const n of nodes) {
    const to = byGroup.get(groupOfKey.get(n.key)!)!.id
    for (const d of n.deps) {
      const g = groupOfKey.get(d)
      if (g === undefined) continue
      const from = byGroup.get(g)!.id
      if (from !== to) edges.set(`${from}>${to}`, [from, to])
    }
  }
  return { boxes: [...byGroup.values()], edges: [...edges.values()] }
}

const lines = (box: Box) => {
  const out = [box.members.length > 1 ? `${box.title} ×${box.members.length}` : box.title]
  const c = counts(box.members)
  if (c !== "" && (box.members.length > 1 || box.members[0]!.status !== undefined)) out.push(box.members.length > 1 ? c : box.members[0]!.status!)
  return out
}

const FILL: Record<string, string> = {
  succeeded: "#c8e6c9",
  failed: "#ffcdd2",
  leased: "#bbdefb",
  ready: "#fff9c4",
  pending: "#eeeeee",
  skipped: "#f5f5f5",
  cancelled: "#f5f5f5"
}

const dotString = (s: string) => `"${s.replaceAll("\\", "\\\\").replaceAll(`"`, `\\"`).replaceAll("\n", "\\n")}"`
const mermaidLabel = (s: string) => s.replaceAll(`"`, "#quot;").replaceAll("<", "#lt;").replaceAll(">", "#gt;")

export const render = (nodes: ReadonlyArray<PictureNode>, format: PictureFormat, title = "graph"): string => {
  const { boxes: all, edges } = boxes(nodes)
  if (format === "dot") {
    return [
      `digraph ${dotString(title)} {`,
      `  rankdir=LR;`,
      `  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];`,
      ...all.map((b) => {
        const status = boxStatus(b.members)
        const fill = status !== undefined ? `, fillcolor=${dotString(FILL[status] ?? "#ffffff")}` : ""
        return `  ${b.id} [label=${dotString(lines(b).join("\n"))}${fill}];`
      }),
      ...edges.map(([from, to]) => `  ${from} -> ${to};`),
      "}",
      ""
    ].join("\n")
  }
  const used = new Set<string>()
  return [
    "flowchart LR",
    ...all.map((b) => `  ${b.id}["${lines(b).map(mermaidLabel).join("<br/>")}"]`),
    ...edges.map(([from, to]) => `  ${from} --> ${to}`),
    ...all.flatMap((b) => {
      const status = boxStatus(b.members)
      if (status === undefined) return []
      used.add(status)
      return [`  class ${b.id} ${status}`]
    }),
    ...[...used].map((s) => `  classDef ${s} fill:${FILL[s] ?? "#ffffff"},stroke:#555`),
    ""
  ].join("\n")
}
