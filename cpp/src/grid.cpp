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
  std::vector<std::size_t> digit(n_features_, 0);
  std::size_t h = 0;
  for (std::size_t p = 0; p < full_size_; ++p) {
    if (p != zero_row_) {
      for (int f = 0; f < n_features_; ++f) weights_[h * n_features_ + f] = levels_[digit[f]];
      ++h;
    }
    for (int f = n_features_ - 1; f >= 0 && ++digit[f] == L; --f) digit[f] = 0;
  }
}

void Grid::best_options(const double* options, int n_options, std::size_t begin,
                        std::size_t end, std::uint8_t* out, std::size_t stride) const {
  for_each_utilities(options, n_options, begin, end, [&](std::size_t h, const double* u) {
    out[(h - begin) * stride] = static_cast<std::uint8_t>(best_option(u, n_options));
  });
}

}  // namespace bayesflight
