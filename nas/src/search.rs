//! Latency-constrained search over a space: aging (regularised) evolution, Real et al. 2019.
//!
//! The latency model and the objective are closures, so the same search runs with a predictor
//! adapted to this device and with an accuracy table or a training-free proxy measured here.
//! Candidates whose predicted latency is over the budget never enter the population.

use std::collections::{HashMap, VecDeque};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Arch, Space};

#[derive(Debug, Clone, PartialEq)]
pub struct EvolutionOptions {
    /// Population size (the oldest member leaves when a child joins).
    pub population: usize,
    /// Tournament size: the best of this many random members is the parent.
    pub tournament: usize,
    /// Objective evaluations in all (the search's cost).
    pub evaluations: usize,
    /// Mutations tried per child before giving up on staying within the budget.
    pub max_mutation_tries: usize,
    pub seed: u64,
}

impl Default for EvolutionOptions {
    fn default() -> Self {
        EvolutionOptions {
            population: 20,
            tournament: 5,
            evaluations: 100,
            max_mutation_tries: 50,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub arch: Arch,
    pub latency_ms: f64,
    pub objective: f64,
}

#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// The best candidate within the budget (None if none was found).
    pub best: Option<Candidate>,
    /// Every evaluated candidate, in evaluation order.
    pub history: Vec<Candidate>,
    /// Archs whose latency was predicted (evaluated or not).
    pub latency_queries: usize,
}

/// Runs aging evolution in `space`: `latency` predicts milliseconds for a batch of archs,
/// `objective` scores one arch (higher is better).
pub fn aging_evolution(
    space: Space,
    budget_ms: f64,
    opts: &EvolutionOptions,
    latency: &mut dyn FnMut(&[Arch]) -> Vec<f64>,
    objective: &mut dyn FnMut(&Arch) -> f64,
) -> SearchOutcome {
    let mut e = Evolution {
        budget_ms,
        opts,
        latency,
        objective,
        rng: ChaCha8Rng::seed_from_u64(opts.seed),
        out: SearchOutcome {
            best: None,
            history: Vec::new(),
            latency_queries: 0,
        },
        seen: HashMap::new(),
        population: VecDeque::new(),
    };
    e.initial_population(space);
    // Evolution: tournament parent, mutated until the child fits the budget.
    while !e.population.is_empty() && e.out.history.len() < opts.evaluations {
        match e.child() {
            Some(c) => {
                e.population.push_back(c);
                if e.population.len() > opts.population {
                    e.population.pop_front();
                }
            }
            // The neighbourhood is exhausted or over budget: age the population anyway.
            None => {
                e.population.pop_front();
            }
        }
    }
    e.out
}

/// The state of one aging evolution.
struct Evolution<'a> {
    budget_ms: f64,
    opts: &'a EvolutionOptions,
    latency: &'a mut dyn FnMut(&[Arch]) -> Vec<f64>,
    objective: &'a mut dyn FnMut(&Arch) -> f64,
    rng: ChaCha8Rng,
    out: SearchOutcome,
    /// Every arch scored, by its string.
    seen: HashMap<String, f64>,
    population: VecDeque<Candidate>,
}

impl Evolution<'_> {
    /// Scores an arch not seen before and records it.
    fn evaluate(&mut self, arch: Arch, lat: f64) -> Option<Candidate> {
        let key = arch.to_string();
        if self.seen.contains_key(&key) {
            return None;
        }
        let c = Candidate {
            objective: (self.objective)(&arch),
            arch,
            latency_ms: lat,
        };
        self.seen.insert(key, c.objective);
        if self
            .out
            .best
            .as_ref()
            .is_none_or(|b| c.objective > b.objective)
        {
            self.out.best = Some(c.clone());
        }
        self.out.history.push(c.clone());
        Some(c)
    }

    /// Random archs within the budget (sampled in batches) until the population is full.
    fn initial_population(&mut self, space: Space) {
        let opts = self.opts;
        let mut tries = 0;
        while self.population.len() < opts.population
            && self.out.history.len() < opts.evaluations
            && tries < opts.population * opts.max_mutation_tries
        {
            let batch: Vec<Arch> = (0..opts.population)
                .map(|_| space.sample(&mut self.rng))
                .collect();
            tries += batch.len();
            let lats = (self.latency)(&batch);
            self.out.latency_queries += batch.len();
            for (arch, lat) in batch.into_iter().zip(lats) {
                // The budget of evaluations holds inside a batch too.
                if lat <= self.budget_ms
                    && self.population.len() < opts.population
                    && self.out.history.len() < opts.evaluations
                {
                    if let Some(c) = self.evaluate(arch, lat) {
                        self.population.push_back(c);
                    }
                }
            }
        }
    }

    /// A tournament's winner mutated until the child is new and fits the budget, scored;
    /// None when the tries run out.
    fn child(&mut self) -> Option<Candidate> {
        let parent = (0..self.opts.tournament.max(1))
            .map(|_| &self.population[self.rng.random_range(0..self.population.len())])
            .max_by(|a, b| a.objective.total_cmp(&b.objective))
            .expect("population is not empty")
            .arch
            .clone();
        for _ in 0..self.opts.max_mutation_tries {
            let arch = parent.mutate(&mut self.rng);
            if self.seen.contains_key(&arch.to_string()) {
                continue;
            }
            let lat = (self.latency)(std::slice::from_ref(&arch))[0];
            self.out.latency_queries += 1;
            if lat <= self.budget_ms {
                return self.evaluate(arch, lat);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Nb201Op;

    /// A toy latency: the number of 3×3 convs; objective: 3×3 convs count 1, 1×1 convs 0.5.
    fn toy(arch: &Arch) -> (f64, f64) {
        let Arch::Nb201(a) = arch else { unreachable!() };
        let count = |op| a.ops.iter().filter(|&&o| o == op).count() as f64;
        (
            count(Nb201Op::NorConv3x3),
            count(Nb201Op::NorConv3x3) + 0.5 * count(Nb201Op::NorConv1x1),
        )
    }

    #[test]
    fn finds_the_best_within_the_budget_and_is_reproducible() {
        let run = |seed| {
            aging_evolution(
                Space::Nb201,
                2.0,
                &EvolutionOptions {
                    evaluations: 300,
                    seed,
                    ..Default::default()
                },
                &mut |archs| archs.iter().map(|a| toy(a).0).collect(),
                &mut |a| toy(a).1,
            )
        };
        let a = run(1);
        let best = a.best.clone().unwrap();
        assert!(best.latency_ms <= 2.0);
        assert!(a.history.iter().all(|c| c.latency_ms <= 2.0));
        // Optimum: two 3×3 convs (the budget) and four 1×1 convs = 4.
        assert!((best.objective - 4.0).abs() < 1e-9, "{}", best.objective);
        let b = run(1);
        assert_eq!(a.history, b.history);
        assert_ne!(run(2).history, a.history);
    }
}
