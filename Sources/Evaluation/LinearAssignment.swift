/// Minimum-cost linear assignment (the Hungarian method in its shortest-augmenting-path form,
/// as used by Jonker & Volgenant): O(n²·m) for n rows and m columns.
public enum LinearAssignment {
    /// Assigns each row of the row-major `[rows, columns]` cost matrix to a distinct column so the
    /// total cost is minimal. Returns, per row, its column, or −1 for rows left over when there are
    /// more rows than columns. Costs must be finite.
    public static func solve(_ cost: [Double], rows: Int, columns: Int) -> [Int] {
        precondition(cost.count == rows * columns, "cost matrix has \(cost.count) entries, expected \(rows)x\(columns)")
        guard rows > 0, columns > 0 else { return [Int](repeating: -1, count: rows) }
        if rows <= columns { return solveWide(cost, rows: rows, columns: columns) }
        // More rows than columns: solve the transpose and invert the assignment.
        var transposed = [Double](repeating: 0, count: cost.count)
        for r in 0..<rows { for c in 0..<columns { transposed[c * rows + r] = cost[r * columns + c] } }
        let byColumn = solveWide(transposed, rows: columns, columns: rows)
        var byRow = [Int](repeating: -1, count: rows)
        for (c, r) in byColumn.enumerated() where r >= 0 { byRow[r] = c }
        return byRow
    }

    /// rows <= columns: every row gets a column.
    ///
    /// Rows are added one at a time. For each, a Dijkstra-like search over columns, using the
    /// reduced costs `cost − u[row] − v[column]` (kept non-negative by the dual potentials u, v),
    /// finds the cheapest alternating path to a free column; the matching is flipped along it and
    /// the potentials updated so that all matched edges stay tight.
    static func solveWide(_ cost: [Double], rows n: Int, columns m: Int) -> [Int] {
        // 1-based internally; column 0 is a virtual start column holding the row being added.
        var u = [Double](repeating: 0, count: n + 1), v = [Double](repeating: 0, count: m + 1)
        var rowOfColumn = [Int](repeating: 0, count: m + 1)       // 0 = free
        var previous = [Int](repeating: 0, count: m + 1)          // predecessor column on the path
        for row in 1...n {
            rowOfColumn[0] = row
            var column = 0
            var slack = [Double](repeating: .infinity, count: m + 1)
            var visited = [Bool](repeating: false, count: m + 1)
            repeat {
                visited[column] = true
                let r = rowOfColumn[column]
                var delta = Double.infinity
                var next = 0
                for j in 1...m where !visited[j] {
                    let reduced = cost[(r - 1) * m + (j - 1)] - u[r] - v[j]
                    if reduced < slack[j] { slack[j] = reduced; previous[j] = column }
                    if slack[j] < delta { delta = slack[j]; next = j }
                }
                for j in 0...m {
                    if visited[j] { u[rowOfColumn[j]] += delta; v[j] -= delta } else { slack[j] -= delta }
                }
                column = next
            } while rowOfColumn[column] != 0
            // Flip the matching along the path back to the virtual column.
            repeat {
                let before = previous[column]
                rowOfColumn[column] = rowOfColumn[before]
                column = before
            } while column != 0
        }
        var assignment = [Int](repeating: -1, count: n)
        for j in 1...m where rowOfColumn[j] != 0 { assignment[rowOfColumn[j] - 1] = j - 1 }
        return assignment
    }
}
