// Utilities, the deterministic user's choice with its tie rule, and the three choice models.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace bayesflight {

// Utilities within this of the maximum are ties; the lowest such index is the choice.
inline constexpr double kUtilityTieTol = 1e-9;
// Predictive probabilities within this of the maximum are ties; the lowest index is recommended.
inline constexpr double kProbabilityTieTol = 1e-12;
// Options per set: at least 2; at most 255 so that a choice fits in one byte.
inline constexpr int kMinOptions = 2;
inline constexpr int kMaxOptions = 255;

// Throws std::invalid_argument "<name> must have between 2 and 255 options per set, got K"
// unless kMinOptions <= n_options <= kMaxOptions: the one statement of the limit.
void check_option_count(long long n_options, const std::string& name);

enum class ChoiceKind { kDeterministic, kSoftmax, kEpsilon };

// How a user picks among options; validated on construction by `make`.
struct ChoiceModel {
  ChoiceKind kind = ChoiceKind::kDeterministic;
  double beta = 0.0;     // softmax inverse temperature, > 0
  double epsilon = 0.0;  // epsilon-greedy noise, in (0, 1)

  // Throws std::invalid_argument naming `choice_model`, `beta` or `epsilon`.
  static ChoiceModel make(const std::string& kind, double beta, double epsilon);
};

// w . x summed left to right from 0.0: every code path uses this order, so a user whose
// weights are a grid row computes exactly the utilities of that hypothesis.
inline double dot(const double* w, const double* x, int n_features) {
  double s = 0.0;
  for (int f = 0; f < n_features; ++f) s += w[f] * x[f];
  return s;
}

// The deterministic choice: the lowest index whose utility is within kUtilityTieTol of the max.
inline int best_option(const double* u, int n_options) {
  double top = u[0];
  for (int k = 1; k < n_options; ++k) top = u[k] > top ? u[k] : top;
  const double threshold = top - kUtilityTieTol;
  int k = 0;
  while (u[k] < threshold) ++k;
  return k;
}

// The recommendation: the lowest index whose probability is within kProbabilityTieTol of the max.
inline int recommend_from(const double* p, int n_options) {
  double top = p[0];
  for (int k = 1; k < n_options; ++k) top = p[k] > top ? p[k] : top;
  const double threshold = top - kProbabilityTieTol;
  int k = 0;
  while (p[k] < threshold) ++k;
  return k;
}

// The softmax of beta * u over K options, in the reference's arithmetic: z[k] = beta * u[k],
// top = max_k z[k], and term(k, e_k) is called with e_k = exp(z[k] - top) as total sums them.
// Then log P(k) = z[k] - log_norm() and P(k) = e_k / total. Every softmax in the core is this
// one, so the belief and the protocol agree bit for bit.
struct SoftmaxNorm {
  double top = 0.0;
  double total = 0.0;
  double log_norm() const { return top + std::log(total); }
};

template <class Term>
inline SoftmaxNorm softmax(double beta, const double* u, int n_options, double* z, Term&& term) {
  SoftmaxNorm norm;
  norm.top = beta * u[0];
  for (int k = 0; k < n_options; ++k) {
    z[k] = beta * u[k];
    norm.top = z[k] > norm.top ? z[k] : norm.top;
  }
  for (int k = 0; k < n_options; ++k) {
    const double e = std::exp(z[k] - norm.top);
    term(k, e);
    norm.total += e;
  }
  return norm;
}

// The epsilon model's likelihood of the deterministic choice (hit) and of each other option
// (miss) among K, in the reference's arithmetic: log((1 - eps) * onehot + eps / K), and its
// exponential, as the reference's predictive exponentiates its log-likelihoods.
struct EpsilonLikelihoods {
  double log_hit, log_miss, hit, miss;
};

inline EpsilonLikelihoods epsilon_likelihoods(double epsilon, int n_options) {
  EpsilonLikelihoods e;
  e.log_hit = std::log((1.0 - epsilon) * 1.0 + epsilon / n_options);
  e.log_miss = std::log((1.0 - epsilon) * 0.0 + epsilon / n_options);
  e.hit = std::exp(e.log_hit);
  e.miss = std::exp(e.log_miss);
  return e;
}

// The log-likelihood of choosing each option under one hypothesis, given its utilities u (K):
// written into out (K) in the reference's arithmetic.
void log_likelihood(const ChoiceModel& model, const double* u, int n_options, double* out);

// A Kahan-compensated sum, so sums over millions of hypotheses keep their last digits.
struct CompensatedSum {
  double sum = 0.0;
  double carry = 0.0;
  void add(double x) {
    const double y = x - carry;
    const double t = sum + y;
    carry = (t - sum) - y;
    sum = t;
  }
};

}  // namespace bayesflight
