// The hypothesis grid: construction, validation and the deterministic choices of all rows.
#include "bayesflight/grid.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace bayesflight {

namespace {

void check_grid_arguments(int n_features, const std::vector<double>& levels) {
  if (n_features < kMinFeatures || n_features > kMaxFeatures)
    throw std::invalid_argument("n_features must be between " + std::to_string(kMinFeatures) +
                                " and " + std::to_string(kMaxFeatures) + ", got " +
                                std::to_string(n_features));
  const int n_levels = static_cast<int>(levels.size());
  if (n_levels < kMinLevels || n_levels > kMaxLevels)
    throw std::invalid_argument("levels must hold between " + std::to_string(kMinLevels) +
                                " and " + std::to_string(kMaxLevels) + " values, got " +
                                std::to_string(n_levels));
  for (int i = 0; i < n_levels; ++i) {
    if (!std::isfinite(levels[i]))
      throw std::invalid_argument("levels must be finite numbers, got a non-finite value");
    for (int j = 0; j < i; ++j)
      if (levels[j] == levels[i])
        throw std::invalid_argument("levels must be distinct, got " +
                                    std::to_string(levels[i]) + " twice");
  }
  std::size_t rows = 1;
  for (int f = 0; f < n_features; ++f) {
    rows *= static_cast<std::size_t>(n_levels);
    if (rows > kMaxGridRows)
      throw std::invalid_argument(
          "levels and n_features: len(levels) ** n_features must be at most " +
          std::to_string(kMaxGridRows) + " hypotheses");
  }
}

}  // namespace

Grid::Grid(int n_features, std::vector<double> levels)
    : n_features_(n_features), levels_(std::move(levels)) {
  check_grid_arguments(n_features_, levels_);
  const std::size_t L = levels_.size();
  full_size_ = 1;
  for (int f = 0; f < n_features_; ++f) full_size_ *= L;
  zero_row_ = full_size_;
  for (std::size_t l = 0; l < L; ++l) {
    if (levels_[l] != 0.0) continue;
    zero_row_ = 0;  // every digit is l: sum of l * L^f
    for (int f = 0; f < n_features_; ++f) zero_row_ = zero_row_ * L + l;
  }
  size_ = full_size_ - (zero_row_ < full_size_ ? 1 : 0);
  weights_.resize(size_ * n_features_);
  digits_.resize(size_ * n_features_);
  std::vector<std::size_t> digit(n_features_, 0);
  std::size_t h = 0;
  for (std::size_t p = 0; p < full_size_; ++p) {
    if (p != zero_row_) {
      for (int f = 0; f < n_features_; ++f) {
        weights_[h * n_features_ + f] = levels_[digit[f]];
        digits_[h * n_features_ + f] = static_cast<std::uint8_t>(digit[f]);
      }
      ++h;
    }
    for (int f = n_features_ - 1; f >= 0 && ++digit[f] == L; --f) digit[f] = 0;
  }
}

void Grid::best_options(const double* options, int n_options, std::size_t begin,
                        std::size_t end, std::uint8_t* out, std::size_t stride) const {
  if (begin >= end) return;
  // Rows come in blocks of J that differ only in the last one or two features ("tail") and
  // share the partial sum of the others ("head"). Within a block every step is a loop over j,
  // which the compiler vectorises; the sums keep the order of dot().
  const int F = n_features_;
  const int K = n_options;
  const int L = static_cast<int>(levels_.size());
  const int tail = F >= 2 ? 2 : 1;
  const int head = F - tail;
  const int J = tail == 2 ? L * L : L;
  std::vector<double> a(static_cast<std::size_t>(K) * J, 0.0), b(a.size());
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < J; ++j) {
      if (tail == 2) a[k * J + j] = levels_[j / L] * options[k * F + head];
      b[k * J + j] = levels_[j % L] * options[k * F + F - 1];
    }
  const std::size_t p_begin = begin + (begin >= zero_row_ ? 1 : 0);
  const std::size_t p_last = (end - 1) + (end - 1 >= zero_row_ ? 1 : 0);
  std::size_t q = p_begin / J;
  std::vector<int> digit(head, 0);
  for (int f = head - 1, rest = 0; f >= 0; --f, ++rest) {
    std::size_t v = q;
    for (int i = 0; i < rest; ++i) v /= L;
    digit[f] = static_cast<int>(v % L);
  }
  std::vector<double> prefix(static_cast<std::size_t>(head + 1) * K, 0.0);
  auto refresh = [&](int from) {
    for (int d = from; d < head; ++d)
      for (int k = 0; k < K; ++k)
        prefix[(d + 1) * K + k] = prefix[d * K + k] + levels_[digit[d]] * options[k * F + d];
  };
  refresh(0);
  std::vector<double> u(static_cast<std::size_t>(K) * J), top(J), choice(J);
  std::uint8_t* o = out;
  for (;; ++q) {
    const double* base = prefix.data() + static_cast<std::size_t>(head) * K;
    for (int k = 0; k < K; ++k) {
      double* uk = u.data() + k * J;
      const double* ak = a.data() + k * J;
      const double* bk = b.data() + k * J;
      const double s = base[k];
      if (tail == 2)
        for (int j = 0; j < J; ++j) uk[j] = (s + ak[j]) + bk[j];
      else
        for (int j = 0; j < J; ++j) uk[j] = s + bk[j];
    }
    std::copy(u.begin(), u.begin() + J, top.begin());
    for (int k = 1; k < K; ++k) {
      const double* uk = u.data() + k * J;
      for (int j = 0; j < J; ++j) top[j] = uk[j] > top[j] ? uk[j] : top[j];
    }
    for (int j = 0; j < J; ++j) top[j] -= kUtilityTieTol;
    std::fill(choice.begin(), choice.end(), static_cast<double>(K - 1));
    for (int k = K - 2; k >= 0; --k) {  // the lowest option within tolerance wins
      const double* uk = u.data() + k * J;
      const double kk = k;
      for (int j = 0; j < J; ++j) choice[j] = uk[j] >= top[j] ? kk : choice[j];
    }
    const std::size_t p0 = q * J;
    const std::size_t from = std::max(p0, p_begin), to = std::min(p0 + J, p_last + 1);
    for (std::size_t p = from; p < to; ++p) {
      if (p == zero_row_) continue;
      *o = static_cast<std::uint8_t>(choice[p - p0]);
      o += stride;
    }
    if (p0 + J > p_last) break;
    int d = head - 1;
    while (d >= 0 && ++digit[d] == L) digit[d--] = 0;
    refresh(d < 0 ? 0 : d);
  }
}

ScaledOptions::ScaledOptions(const Grid& grid, const double* options, int n_options)
    : grid_(grid), F_(grid.n_features()), L_(static_cast<int>(grid.levels().size())),
      K_(n_options), scaled_(static_cast<std::size_t>(F_) * L_ * K_) {
  for (int f = 0; f < F_; ++f)
    for (int l = 0; l < L_; ++l)
      for (int k = 0; k < K_; ++k)
        scaled_[(f * L_ + l) * K_ + k] = grid.levels()[l] * options[k * F_ + f];
}

}  // namespace bayesflight
