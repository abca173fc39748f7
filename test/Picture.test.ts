// The graph as a picture: grouped so a large graph still reads, statuses shown, valid DOT/Mermaid.
import { describe, expect, it } from "@effect/vitest"
import { boxes, type PictureNode, render } from "../src/TrainerRun/Picture.ts"

const graph = (families: ReadonlyArray<string>, trials: number, folds: number): Array<PictureNode> => {
  const nodes: Array<PictureNode> = [{ key: "prepare", kind: "prepare", deps: [], status: "succeeded" }]
  for (const family of families) {
    const fits: Array<string> = []
    for (let t = 0; t < trials; t++) {
      for (let f = 0; f < folds; f++) {
        const key = `fit.${family}.t${t}.f${f}`
        fits.push(key)
        nodes.push({ key, kind: "fit", deps: ["prepare"], params: { family }, status: t === 0 ? "leased" : "succeeded" })
      }
    }
    nodes.push({ key: `select.${family}`, kind: "select", deps: fits, params: { family }, status: "pending" })
    nodes.push({ key: `refit.${family}`, kind: "refit", deps: [`select.${family}`], params: { family }, status: "pending" })
  }
  nodes.push({ key: "finalize", kind: "finalize", deps: families.map((f) => `refit.${f}`), status: "pending" })
  return nodes
}

describe("the graph as a picture", () => {
  it("groups fits per family, with counts per status, and draws each dependency once", () => {
    const text = render(graph(["xgboost", "tabm"], 2, 3), "mermaid")
    expect(text.split("\n")[0]).toBe("flowchart LR")
    expect(text).toContain(`["fit xgboost ×6<br/>3 leased, 3 succeeded"]`)
    expect(text).toContain(`["select.tabm<br/>pending"]`)
    const edges = text.split("\n").filter((l) => l.includes("-->"))
    expect(edges).toHaveLength(2 * 4) // per family: prepare→fits, fits→select, select→refit, refit→finalize
    expect(new Set(edges).size).toBe(edges.length)
    expect(text).toMatch(/class n1 leased/)
    expect(text).toMatch(/classDef leased fill:#bbdefb/)
  })

  it("stays readable at 10,000 nodes", () => {
    const big = graph(["xgboost", "tabm", "xrfm"], 333, 10)
    expect(big.length).toBe(1 + 3 * (3330 + 2) + 1)
    const { boxes: b, edges } = boxes(big)
    expect(b.length).toBe(1 + 3 * 3 + 1)
    expect(edges.length).toBe(3 * 4)
    const dot = render(big, "dot", "job_x")
    expect(dot.startsWith(`digraph "job_x" {`)).toBe(true)
    expect(dot).toContain(`label="fit xrfm ×3330\\n10 leased, 3320 succeeded"`)
    expect(dot.split("\n").length).toBeLessThan(40)
  })

  it("escapes what would break the syntax", () => {
    const nodes: Array<PictureNode> = [{ key: `odd"key<x>`, kind: "prepare", deps: [] }]
    expect(render(nodes, "dot")).toContain(`label="odd\\"key<x>"`)
    expect(render(nodes, "mermaid")).toContain(`["odd#quot;key#lt;x#gt;"]`)
  })
})
