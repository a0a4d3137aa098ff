//! Loops of `in segment` references.

use std::collections::VecDeque;

use crate::ast::Name;

/// Segments as nodes `0..n`; `edges[i]` are node i's references, with the
/// node each points to.
pub(crate) struct RefGraph<'a> {
    pub edges: Vec<Vec<(usize, &'a Name)>>,
}

/// Cycles through the `starts` nodes, each as the references followed from
/// its start back to it. A self-reference is always its own cycle; otherwise a
/// start already on a reported cycle gives no new one, so a tangle of
/// references is reported a few times, not once per path.
///
/// Only nodes of a strongly connected component with a cycle are searched, so
/// long chains without loops cost linear time.
pub(crate) fn cycles<'a>(graph: &RefGraph<'a>, starts: &[usize]) -> Vec<Vec<&'a Name>> {
    let component = components(graph);
    let n = graph.edges.len();
    let mut size = vec![0usize; n];
    for &c in &component {
        if let Some(s) = size.get_mut(c) {
            *s += 1;
        }
    }
    let mut covered = vec![false; n];
    let mut found = Vec::new();
    for &start in starts {
        let Some(edges) = graph.edges.get(start) else {
            continue;
        };
        if let Some((_, reference)) = edges.iter().find(|(to, _)| *to == start) {
            found.push(vec![*reference]);
            covered[start] = true;
            continue;
        }
        let c = component.get(start).copied().unwrap_or(usize::MAX);
        if covered.get(start).copied().unwrap_or(true) || size.get(c).copied().unwrap_or(0) < 2 {
            continue;
        }
        if let Some(path) = shortest_cycle(graph, &component, start) {
            for &(to, _) in &path {
                if let Some(flag) = covered.get_mut(to) {
                    *flag = true;
                }
            }
            found.push(path.into_iter().map(|(_, reference)| reference).collect());
        }
    }
    found
}

/// Breadth-first search from `start` back to it, within its component: the
/// references followed, with the node each leads to.
fn shortest_cycle<'a>(
    graph: &RefGraph<'a>,
    component: &[usize],
    start: usize,
) -> Option<Vec<(usize, &'a Name)>> {
    let home = *component.get(start)?;
    let mut parent: Vec<Option<(usize, &'a Name)>> = vec![None; graph.edges.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &(to, reference) in graph.edges.get(node).into_iter().flatten() {
            if to == start {
                let mut path = vec![(start, reference)];
                let mut at = node;
                while at != start {
                    let (previous, edge) = (*parent.get(at)?)?;
                    path.push((at, edge));
                    at = previous;
                }
                path.reverse();
                return Some(path);
            }
            let same_component = component.get(to) == Some(&home);
            if same_component && parent.get(to).is_some_and(Option::is_none) {
                if let Some(slot) = parent.get_mut(to) {
                    *slot = Some((node, reference));
                }
                queue.push_back(to);
            }
        }
    }
    None
}

/// Strongly connected components (Tarjan's algorithm, iterative): the
/// component number of each node.
fn components(graph: &RefGraph<'_>) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = graph.edges.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![UNSEEN; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next_index = 0;
    let mut next_component = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut edge)) = calls.last_mut() {
            let target = graph.edges[node].get(*edge).map(|(to, _)| *to);
            if let Some(to) = target {
                *edge += 1;
                if to >= n {
                    continue;
                }
                if index[to] == UNSEEN {
                    index[to] = next_index;
                    low[to] = next_index;
                    next_index += 1;
                    stack.push(to);
                    on_stack[to] = true;
                    calls.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(index[to]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(caller, _)) = calls.last() {
                low[caller] = low[caller].min(low[node]);
            }
            if low[node] == index[node] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = next_component;
                    if member == node {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(names: &'a [Name], edges: &[&[usize]]) -> RefGraph<'a> {
        RefGraph {
            edges: edges
                .iter()
                .map(|es| es.iter().map(|&to| (to, &names[to])).collect())
                .collect(),
        }
    }

    fn texts(path: &[&Name]) -> Vec<String> {
        path.iter().map(|n| n.text.clone()).collect()
    }

    #[test]
    fn components_of_a_small_graph() {
        let names: Vec<Name> = (0..5).map(|i| Name::new(format!("n{i}"))).collect();
        // 0 → 1 → 2 → 0, 2 → 3, 3 → 4, 4 → 3
        let g = graph(&names, &[&[1], &[2], &[0, 3], &[4], &[3]]);
        let c = components(&g);
        assert_eq!(c[0], c[1]);
        assert_eq!(c[1], c[2]);
        assert_eq!(c[3], c[4]);
        assert_ne!(c[0], c[3]);
    }

    #[test]
    fn shortest_cycles_and_self_loops() {
        let names: Vec<Name> = (0..4).map(|i| Name::new(format!("n{i}"))).collect();
        // 0 → 1 → 2 → 0, 0 → 2, 2 → 2, 3 → 0 (not on a cycle)
        let g = graph(&names, &[&[1, 2], &[2], &[0, 2], &[0]]);
        let found = cycles(&g, &[3, 0, 1, 2]);
        assert_eq!(
            found.iter().map(|p| texts(p)).collect::<Vec<_>>(),
            vec![vec!["n2", "n0"], vec!["n2", "n0", "n1"], vec!["n2"]]
        );
    }

    #[test]
    fn long_chain_without_a_loop_is_linear() {
        let n = 200_000;
        let names: Vec<Name> = (0..n).map(|i| Name::new(format!("n{i}"))).collect();
        let edges: Vec<Vec<(usize, &Name)>> = (0..n)
            .map(|i| {
                if i + 1 < n {
                    vec![(i + 1, &names[i + 1])]
                } else {
                    vec![]
                }
            })
            .collect();
        let g = RefGraph { edges };
        let starts: Vec<usize> = (0..n).collect();
        assert!(cycles(&g, &starts).is_empty());
    }
}
