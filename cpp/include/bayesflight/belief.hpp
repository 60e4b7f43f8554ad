// A belief over the hypothesis grid: a log-posterior updated by Bayes' rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "bayesflight/choice.hpp"
#include "bayesflight/grid.hpp"

namespace bayesflight {

class Belief {
 public:
  // Uniform prior: log(1 / M) everywhere.
  Belief(std::shared_ptr<const Grid> grid, ChoiceModel model);
  // prior: M finite non-negative numbers with a positive sum (normalised here); throws
  // std::invalid_argument naming `prior` otherwise.
  Belief(std::shared_ptr<const Grid> grid, ChoiceModel model, const double* prior);

  const Grid& grid() const { return *grid_; }
  const std::shared_ptr<const Grid>& grid_ptr() const { return grid_; }
  const ChoiceModel& model() const { return model_; }
  const std::vector<double>& log_posterior() const { return log_posterior_; }

  // Bayes' rule after the user picks `choice` from options (K x F). Throws
  // ImpossibleObservation, leaving the belief unchanged, when a deterministic update would
  // leave no hypothesis; std::invalid_argument for a choice outside [0, K).
  void update(const double* options, int n_options, int choice);
  // out (N x K): for each option set, the posterior probability that the user picks each option.
  void predictive(const double* options, std::size_t n_sets, int n_options, double* out) const;
  // out (N): the option with the highest predictive (ties within 1e-12 to the lowest index).
  void recommend(const double* options, std::size_t n_sets, int n_options,
                 std::int64_t* out) const;
  // Shannon entropy of the posterior in nats.
  double entropy() const;
  // out (F): the posterior mean of the weights.
  void posterior_mean(double* out) const;

 private:
  // visit(h, u) for every hypothesis with positive probability, in ascending order.
  template <class Visit>
  void for_each_alive(const double* options, int n_options, Visit&& visit) const;
  void normalise();

  std::shared_ptr<const Grid> grid_;
  ChoiceModel model_;
  std::vector<double> log_posterior_;
  std::vector<std::uint32_t> alive_;  // hypotheses whose log-probability is above -inf
};

}  // namespace bayesflight
