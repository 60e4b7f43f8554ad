// Choice models: validation and the log-likelihood of each option under one hypothesis.
#include "bayesflight/choice.hpp"

#include <stdexcept>

namespace bayesflight {

void check_option_count(long long n_options, const std::string& name) {
  if (n_options < kMinOptions || n_options > kMaxOptions)
    throw std::invalid_argument(name + " must have between " + std::to_string(kMinOptions) +
                                " and " + std::to_string(kMaxOptions) + " options per set, got " +
                                std::to_string(n_options));
}

ChoiceModel ChoiceModel::make(const std::string& kind, double beta, double epsilon) {
  ChoiceModel model;
  if (kind == "deterministic") {
    model.kind = ChoiceKind::kDeterministic;
  } else if (kind == "softmax") {
    if (!(std::isfinite(beta) && beta > 0.0))
      throw std::invalid_argument("beta must be a finite number > 0 for the softmax model");
    model.kind = ChoiceKind::kSoftmax;
    model.beta = beta;
  } else if (kind == "epsilon") {
    if (!(epsilon > 0.0 && epsilon < 1.0))
      throw std::invalid_argument("epsilon must be a number in (0, 1) for the epsilon model");
    model.kind = ChoiceKind::kEpsilon;
    model.epsilon = epsilon;
  } else {
    throw std::invalid_argument(
        "choice_model must be 'deterministic', 'softmax' or 'epsilon', got '" + kind + "'");
  }
  return model;
}

void log_likelihood(const ChoiceModel& model, const double* u, int n_options, double* out) {
  const int K = n_options;
  if (model.kind == ChoiceKind::kSoftmax) {
    const double log_norm = softmax(model.beta, u, K, out, [](int, double) {}).log_norm();
    for (int k = 0; k < K; ++k) out[k] -= log_norm;
    return;
  }
  const int best = best_option(u, K);
  if (model.kind == ChoiceKind::kDeterministic) {
    for (int k = 0; k < K; ++k) out[k] = k == best ? 0.0 : -INFINITY;
    return;
  }
  const EpsilonLikelihoods e = epsilon_likelihoods(model.epsilon, K);
  for (int k = 0; k < K; ++k) out[k] = k == best ? e.log_hit : e.log_miss;
}

}  // namespace bayesflight
