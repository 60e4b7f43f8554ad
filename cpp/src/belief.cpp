// Belief: Bayes' rule in log space over the alive hypotheses, predictive, entropy, mean.
#include "bayesflight/belief.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "bayesflight/errors.hpp"

namespace bayesflight {

Belief::Belief(std::shared_ptr<const Grid> grid, ChoiceModel model)
    : grid_(std::move(grid)), model_(model) {
  const std::size_t M = grid_->size();
  log_posterior_.assign(M, -std::log(static_cast<double>(M)));
  alive_.resize(M);
  for (std::size_t h = 0; h < M; ++h) alive_[h] = static_cast<std::uint32_t>(h);
}

Belief::Belief(std::shared_ptr<const Grid> grid, ChoiceModel model, const double* prior)
    : grid_(std::move(grid)), model_(model) {
  const std::size_t M = grid_->size();
  log_posterior_.resize(M);
  for (std::size_t h = 0; h < M; ++h) {
    if (!(std::isfinite(prior[h]) && prior[h] >= 0.0))
      throw std::invalid_argument("prior must hold finite non-negative numbers; entry " +
                                  std::to_string(h) + " is not");
    log_posterior_[h] = std::log(prior[h]);
    if (prior[h] > 0.0) alive_.push_back(static_cast<std::uint32_t>(h));
  }
  if (alive_.empty()) throw std::invalid_argument("prior must have a positive sum, got all zeros");
  normalise();
}

template <class Visit>
void Belief::for_each_alive(const double* options, int n_options, Visit&& visit) const {
  if (alive_.size() == grid_->size()) {
    grid_->for_each_utilities(options, n_options, 0, grid_->size(), visit);
    return;
  }
  const int F = grid_->n_features();
  std::vector<double> u(n_options);
  for (const std::uint32_t h : alive_) {
    for (int k = 0; k < n_options; ++k) u[k] = dot(grid_->row(h), options + k * F, F);
    visit(static_cast<std::size_t>(h), static_cast<const double*>(u.data()));
  }
}

void Belief::normalise() {
  double top = -INFINITY;
  for (const std::uint32_t h : alive_) top = log_posterior_[h] > top ? log_posterior_[h] : top;
  CompensatedSum total;
  for (const std::uint32_t h : alive_) total.add(std::exp(log_posterior_[h] - top));
  const double log_norm = top + std::log(total.sum);
  for (const std::uint32_t h : alive_) log_posterior_[h] -= log_norm;
}

void Belief::update(const double* options, int n_options, int choice) {
  if (choice < 0 || choice >= n_options)
    throw std::invalid_argument("choice must be an option index in [0, " +
                                std::to_string(n_options) + "), got " + std::to_string(choice));
  if (model_.kind == ChoiceKind::kDeterministic) {
    std::vector<std::uint32_t> kept;
    kept.reserve(alive_.size());
    for_each_alive(options, n_options, [&](std::size_t h, const double* u) {
      if (best_option(u, n_options) == choice) kept.push_back(static_cast<std::uint32_t>(h));
    });
    if (kept.empty())
      throw ImpossibleObservation("no hypothesis with positive probability would choose option " +
                                  std::to_string(choice) +
                                  " under the deterministic model; the belief is unchanged");
    std::size_t j = 0;
    for (const std::uint32_t h : alive_) {
      if (j < kept.size() && kept[j] == h)
        ++j;
      else
        log_posterior_[h] = -INFINITY;
    }
    alive_.swap(kept);
  } else {
    std::vector<double> ll(n_options);
    for_each_alive(options, n_options, [&](std::size_t h, const double* u) {
      log_likelihood(model_, u, n_options, ll.data());
      log_posterior_[h] += ll[choice];
    });
  }
  normalise();
}

void Belief::predictive(const double* options, std::size_t n_sets, int n_options,
                        double* out) const {
  const int K = n_options;
  const int F = grid_->n_features();
  std::vector<double> p(grid_->size(), 0.0);
  for (const std::uint32_t h : alive_) p[h] = std::exp(log_posterior_[h]);
  std::vector<CompensatedSum> mass(K);
  std::vector<double> ll(K);
  const EpsilonLikelihoods epsilon = epsilon_likelihoods(model_.epsilon, K);
  for (std::size_t n = 0; n < n_sets; ++n) {
    const double* x = options + n * K * F;
    double* row = out + n * K;
    mass.assign(K, CompensatedSum{});
    if (model_.kind == ChoiceKind::kSoftmax) {
      for_each_alive(x, K, [&](std::size_t h, const double* u) {
        log_likelihood(model_, u, K, ll.data());
        for (int k = 0; k < K; ++k) mass[k].add(p[h] * std::exp(ll[k]));
      });
      for (int k = 0; k < K; ++k) row[k] = mass[k].sum;
      continue;
    }
    for_each_alive(x, K, [&](std::size_t h, const double* u) {
      mass[best_option(u, K)].add(p[h]);
    });
    if (model_.kind == ChoiceKind::kDeterministic) {
      for (int k = 0; k < K; ++k) row[k] = mass[k].sum;
      continue;
    }
    for (int k = 0; k < K; ++k) {
      double others = 0.0;
      for (int j = 0; j < K; ++j) others += j == k ? 0.0 : mass[j].sum;
      row[k] = epsilon.hit * mass[k].sum + epsilon.miss * others;
    }
  }
}

void Belief::recommend(const double* options, std::size_t n_sets, int n_options,
                       std::int64_t* out) const {
  std::vector<double> p(n_sets * n_options);
  predictive(options, n_sets, n_options, p.data());
  for (std::size_t n = 0; n < n_sets; ++n) out[n] = recommend_from(&p[n * n_options], n_options);
}

double Belief::entropy() const {
  CompensatedSum total;
  for (const std::uint32_t h : alive_) {
    const double p = std::exp(log_posterior_[h]);
    if (p > 0.0) total.add(-p * log_posterior_[h]);
  }
  return total.sum;
}

void Belief::posterior_mean(double* out) const {
  const int F = grid_->n_features();
  std::vector<CompensatedSum> mean(F);
  for (const std::uint32_t h : alive_) {
    const double p = std::exp(log_posterior_[h]);
    for (int f = 0; f < F; ++f) mean[f].add(p * grid_->row(h)[f]);
  }
  for (int f = 0; f < F; ++f) out[f] = mean[f].sum;
}

}  // namespace bayesflight
