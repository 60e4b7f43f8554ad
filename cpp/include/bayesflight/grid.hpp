// The hypothesis grid: every weight vector over a level set except all-zero, lexicographic in
// the level order (hypothesis 0 takes the first level everywhere).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bayesflight/choice.hpp"

namespace bayesflight {

inline constexpr int kMinFeatures = 1;
inline constexpr int kMaxFeatures = 10;
inline constexpr int kMinLevels = 2;
inline constexpr int kMaxLevels = 16;
// The full product levels^features may have at most this many rows (2^24); beyond it the
// weights alone would not fit in memory on an ordinary machine.
inline constexpr std::size_t kMaxGridRows = std::size_t{1} << 24;

// Utilities of grid rows on an option set come from one of three paths, one per access
// pattern. Each forms w_h . x_k exactly as dot() does (from 0.0, feature 0 first, each
// product level * x rounded on its own, no FMA), so all of them give dot()'s bits, and a
// deterministic user whose weights are a grid row chooses exactly as that hypothesis does.
// tests/test_core_grid.py checks each against dot() bit for bit.
//
//   Grid::for_each_utilities  a contiguous range of rows, utilities handed to a callback:
//                             the belief over the whole grid, the protocol's softmax rounds.
//                             An odometer over the rows' level digits that keeps the partial
//                             sums of the leading features: about K additions per row.
//   Grid::best_options        only the deterministic choice, for a contiguous range: the
//                             protocol's deterministic first round, its epsilon rounds and
//                             held-out tables. Blocks of L or L*L rows share the sum of their
//                             leading features and are finished as vectorised loops.
//   ScaledOptions             scattered rows: the survivors of the protocol's later
//                             deterministic rounds. F table look-ups per option from the
//                             row's digits.
//
// dot() itself serves the few rows that are not a grid walk: a user's own utilities, a belief
// whose support has been pruned, the protocol's softmax held-out tables.

class Grid {
 public:
  // Throws std::invalid_argument naming `n_features` or `levels`.
  Grid(int n_features, std::vector<double> levels);

  std::size_t size() const { return size_; }
  int n_features() const { return n_features_; }
  const std::vector<double>& levels() const { return levels_; }
  // Row-major (size() x n_features()) weights.
  const double* weights() const { return weights_.data(); }
  const double* row(std::size_t h) const { return weights_.data() + h * n_features_; }
  // Row-major (size() x n_features()) level indices: weights()[i] == levels()[digits()[i]].
  // Eight times smaller than the weights, so gathering scattered rows stays in cache.
  const std::uint8_t* digits() const { return digits_.data(); }

  // Calls visit(h, u) for h in [begin, end) with u[k] = w_h . x_k (K = n_options) for the
  // option set x (K x F), bit-identical to dot() (see above).
  template <class Visit>
  void for_each_utilities(const double* options, int n_options, std::size_t begin,
                          std::size_t end, Visit&& visit) const;

  // The deterministic choice of every hypothesis in [begin, end) on one option set, written
  // to out[(h - begin) * stride]: best_option() of utilities bit-identical to dot().
  void best_options(const double* options, int n_options, std::size_t begin, std::size_t end,
                    std::uint8_t* out, std::size_t stride) const;

 private:
  int n_features_;
  std::vector<double> levels_;
  std::size_t size_;
  std::size_t full_size_;  // levels^features
  std::size_t zero_row_;   // index of the all-zero row in the full product; full_size_ if none
  std::vector<double> weights_;
  std::vector<std::uint8_t> digits_;
};

// Utilities of any hypothesis on one option set from the grid's level digits and a table of
// level * x products, bit-identical to dot() (see above).
class ScaledOptions {
 public:
  ScaledOptions(const Grid& grid, const double* options, int n_options);
  // The products: table()[(f * L + l) * K + k] = levels[l] * x[k][f].
  const double* table() const { return scaled_.data(); }
  // u[k] = w_h . x_k for k < K.
  void utilities(std::size_t h, double* u) const {
    switch (K_) {  // the usual sizes keep their sums in registers
      case 2: return sum<2>(h, u);
      case 3: return sum<3>(h, u);
      case 4: return sum<4>(h, u);
      default: return sum<0>(h, u);
    }
  }

 private:
  // KC options (0: any number, summed one option at a time).
  template <int KC>
  void sum(std::size_t h, double* u) const {
    const std::uint8_t* d = grid_.digits() + h * F_;
    const double* scaled = scaled_.data();
    if constexpr (KC == 0) {
      for (int k = 0; k < K_; ++k) {
        double s = 0.0;
        for (int f = 0; f < F_; ++f) s += scaled[(f * L_ + d[f]) * K_ + k];
        u[k] = s;
      }
    } else {
      double acc[KC] = {};
      for (int f = 0; f < F_; ++f) {
        const double* t = scaled + (f * L_ + d[f]) * KC;
        for (int k = 0; k < KC; ++k) acc[k] += t[k];
      }
      for (int k = 0; k < KC; ++k) u[k] = acc[k];
    }
  }

  const Grid& grid_;
  int F_, L_, K_;
  std::vector<double> scaled_;  // scaled_[(f * L + l) * K + k] = levels[l] * x[k][f]
};

template <class Visit>
void Grid::for_each_utilities(const double* options, int n_options, std::size_t begin,
                              std::size_t end, Visit&& visit) const {
  if (begin >= end) return;
  const int F = n_features_;
  const int K = n_options;
  const int L = static_cast<int>(levels_.size());
  const ScaledOptions scaled_options(*this, options, n_options);
  const double* scaled = scaled_options.table();  // [(f * L + l) * K + k]
  // prefix[d * K + k]: sum over the first d features of the current row.
  std::vector<double> prefix(static_cast<std::size_t>(F + 1) * K, 0.0);
  std::vector<int> digit(F, 0);
  std::size_t full = begin + (begin >= zero_row_ ? 1 : 0);
  for (int f = F - 1; f >= 0; --f) {
    digit[f] = static_cast<int>(full % L);
    full /= L;
  }
  auto refresh = [&](int from) {  // recompute prefix[d] for d in (from, F - 1]
    for (int d = from; d < F - 1; ++d)
      for (int k = 0; k < K; ++k)
        prefix[(d + 1) * K + k] = prefix[d * K + k] + scaled[(d * L + digit[d]) * K + k];
  };
  refresh(0);
  std::vector<double> u(K);
  const double* last = scaled + static_cast<std::size_t>(F - 1) * L * K;
  std::size_t h = begin;
  std::size_t p = begin + (begin >= zero_row_ ? 1 : 0);
  while (h < end) {
    const double* base = prefix.data() + static_cast<std::size_t>(F - 1) * K;
    for (int l = digit[F - 1]; l < L && h < end; ++l, ++p) {
      if (p == zero_row_) continue;
      const double* s = last + static_cast<std::size_t>(l) * K;
      for (int k = 0; k < K; ++k) u[k] = base[k] + s[k];
      visit(h, static_cast<const double*>(u.data()));
      ++h;
    }
    digit[F - 1] = 0;
    int d = F - 2;
    while (d >= 0 && ++digit[d] == L) digit[d--] = 0;
    if (d < 0) break;
    refresh(d);
  }
}

}  // namespace bayesflight
