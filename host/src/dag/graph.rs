//! The stage graph: dependencies, a deterministic topological order, cycles reported as chains.

use std::collections::BTreeSet;

/// Stages `0..n` and, for each, the stages it depends on.
#[derive(Debug, Clone)]
pub struct Graph {
    names: Vec<String>,
    deps: Vec<Vec<usize>>,
}

impl Graph {
    pub fn new(names: Vec<String>, mut deps: Vec<Vec<usize>>) -> Self {
        for d in &mut deps {
            d.sort_unstable();
            d.dedup();
        }
        Graph { names, deps }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, stage: usize) -> &str {
        &self.names[stage]
    }

    pub fn deps(&self, stage: usize) -> &[usize] {
        &self.deps[stage]
    }

    /// For each stage, the stages that depend on it.
    pub fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.len()];
        for (stage, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                out[d].push(stage);
            }
        }
        out
    }

    /// Every stage reachable downstream of `roots`, the roots included.
    pub fn downstream(&self, roots: impl IntoIterator<Item = usize>) -> BTreeSet<usize> {
        let dependents = self.dependents();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = roots.into_iter().collect();
        while let Some(stage) = stack.pop() {
            if seen.insert(stage) {
                stack.extend(&dependents[stage]);
            }
        }
        seen
    }

    /// A topological order (Kahn's algorithm, ties broken by declaration order), or every
    /// cycle as a chain of names: `a -> b -> a`.
    pub fn topological_order(&self) -> Result<Vec<usize>, Vec<String>> {
        let mut remaining: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let dependents = self.dependents();
        let mut ready: BTreeSet<usize> = (0..self.len()).filter(|&s| remaining[s] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(stage) = ready.pop_first() {
            order.push(stage);
            for &next in &dependents[stage] {
                remaining[next] -= 1;
                if remaining[next] == 0 {
                    ready.insert(next);
                }
            }
        }
        if order.len() == self.len() { Ok(order) } else { Err(self.cycles()) }
    }

    /// One chain per cycle found by depth-first search over the stages left in cycles.
    fn cycles(&self) -> Vec<String> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut marks = vec![Mark::New; self.len()];
        let mut chains = Vec::new();
        let mut seen_cycles: BTreeSet<Vec<usize>> = BTreeSet::new();
        for start in 0..self.len() {
            if marks[start] != Mark::New {
                continue;
            }
            // Iterative DFS keeping the path.
            let mut path: Vec<usize> = vec![start];
            let mut next_dep: Vec<usize> = vec![0];
            marks[start] = Mark::OnPath;
            while let Some(&node) = path.last() {
                let i = next_dep.last().copied().unwrap_or(0);
                if let Some(&dep) = self.deps[node].get(i) {
                    *next_dep.last_mut().expect("path and next_dep grow together") += 1;
                    match marks[dep] {
                        Mark::New => {
                            marks[dep] = Mark::OnPath;
                            path.push(dep);
                            next_dep.push(0);
                        }
                        Mark::OnPath => {
                            let from = path.iter().position(|&n| n == dep).expect("on-path node is on the path");
                            let mut cycle: Vec<usize> = path[from..].to_vec();
                            // Report in dependency direction: a depends on b → "b -> a".
                            cycle.reverse();
                            let mut key = cycle.clone();
                            key.sort_unstable();
                            if seen_cycles.insert(key) {
                                let rotate = cycle.iter().enumerate().min_by_key(|(_, n)| **n).map_or(0, |(i, _)| i);
                                cycle.rotate_left(rotate);
                                let mut names: Vec<&str> = cycle.iter().map(|&n| self.name(n)).collect();
                                names.push(self.name(cycle[0]));
                                chains.push(names.join(" -> "));
                            }
                        }
                        Mark::Done => {}
                    }
                } else {
                    marks[node] = Mark::Done;
                    path.pop();
                    next_dep.pop();
                }
            }
        }
        chains
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(usize, usize)], n: usize) -> Graph {
        let names = (0..n).map(|i| ((b'a' + i as u8) as char).to_string()).collect();
        let mut deps = vec![Vec::new(); n];
        for &(stage, dep) in edges {
            deps[stage].push(dep);
        }
        Graph::new(names, deps)
    }

    #[test]
    fn orders_topologically_and_deterministically() {
        // d depends on b and c; b and c on a.
        let g = graph(&[(1, 0), (2, 0), (3, 1), (3, 2)], 4);
        assert_eq!(g.topological_order().unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(g.downstream([1]), BTreeSet::from([1, 3]));
    }

    #[test]
    fn reports_cycles_as_chains() {
        // a <- b <- c <- a (b depends on a, c on b, a on c), and d on itself.
        let g = graph(&[(1, 0), (2, 1), (0, 2), (3, 3)], 4);
        assert_eq!(g.topological_order().unwrap_err(), vec!["a -> b -> c -> a".to_owned(), "d -> d".to_owned()]);
    }
}
