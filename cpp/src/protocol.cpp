// The batched protocol. Deterministic users keep the list of surviving hypotheses (the posterior
// is uniform on it): round 1 runs over the whole grid, later rounds over the survivors, and the
// held-out choices of the round-1 survivors are counted once, bucketed by how many rounds each
// survives. Softmax and epsilon users keep an exact log-posterior over the whole grid. What does
// not depend on the user is computed once: every hypothesis's choice on every held-out set, and
// the predictive before any round.
#include "bayesflight/protocol.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "bayesflight/errors.hpp"
#include "bayesflight/parallel.hpp"

namespace bayesflight {

namespace {

// Softmax likelihoods of every hypothesis on every held-out set are tabulated up to this size,
// and computed afresh each round beyond it.
constexpr std::size_t kMaxLikelihoodTableBytes = std::size_t{256} << 20;
// Hypotheses per task when tabulating.
constexpr std::size_t kRowBlock = 2048;

inline void prefetch(const void* address) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(address);
#else
  (void)address;
#endif
}

// Rounds are counted in 16 bits.
constexpr std::size_t kMaxRounds = 65535;

// Per-thread buffers, sized on first use.
struct Scratch {
  bool ready = false;
  std::vector<std::uint8_t> round_best;  // M: each hypothesis's deterministic choice this round
  // deterministic: the hypotheses that survive round 1, how many rounds each survives, and
  // the positions (in those two lists) of the hypotheses still alive
  std::vector<std::uint32_t> first;      // M
  std::vector<std::uint16_t> depth;      // M
  std::vector<std::uint32_t> live;       // M
  std::vector<std::size_t> stage_size;   // R + 1: hypotheses alive after each round
  std::vector<std::uint8_t> tally;       // (R + 1) x (K2 - 1) x N byte counters
  std::vector<std::uint8_t> touched;     // R + 1 flags: which tallies hold counts
  std::vector<std::uint32_t> counts;     // (R + 1) x N x K2
  std::vector<double> predictive;        // N x K2
  std::vector<std::int64_t> truth;       // N
  // softmax and epsilon: the log-posterior and posterior, each hypothesis's likelihood of
  // every option this round and log-likelihood of the revealed one
  std::vector<double> log_posterior;     // M
  std::vector<double> prob;              // M
  std::vector<double> lik;               // M x K
  std::vector<double> chosen_log_lik;    // M
  std::vector<double> lik_row;           // N x K2
  std::vector<CompensatedSum> mass;      // N x K2
};

class ProtocolRun {
 public:
  ProtocolRun(const Grid& grid, const ChoiceModel& model, const ProtocolInput& in,
              const ProtocolOutput& out, int n_threads)
      : grid_(grid), model_(model), in_(in), out_(out), threads_(resolve_threads(n_threads)),
        F_(grid.n_features()), K_(in.n_options), K2_(in.n_heldout ? in.n_heldout_options : 0),
        M_(grid.size()), N_(in.n_heldout), R_(in.n_rounds) {}

  void run();

 private:
  void check() const;
  void prepare(Scratch& s) const;
  void tabulate();
  void run_user(Scratch& s, std::size_t u);
  void run_deterministic(Scratch& s, std::size_t u);
  void run_probabilistic(Scratch& s, std::size_t u);
  int choice_of(std::size_t u, std::size_t r) const;
  void round_outputs(std::size_t u, std::size_t r, const double* predictive) const;
  void count_heldout(Scratch& s, const std::uint32_t* rows, const std::uint16_t* depth,
                     std::size_t n_rows, std::size_t n_depths) const;
  void heldout_from_counts(Scratch& s, std::size_t stage) const;
  void heldout_predictive(Scratch& s) const;
  void softmax_row(std::size_t h, double* out) const;
  void heldout_outputs(Scratch& s, std::size_t u, std::size_t stage,
                       const double* predictive) const;

  const Grid& grid_;
  const ChoiceModel& model_;
  const ProtocolInput& in_;
  const ProtocolOutput& out_;
  const int threads_;
  const int F_, K_, K2_;
  const std::size_t M_, N_, R_;
  std::vector<std::uint8_t> best_;          // M x N: each hypothesis's held-out choices
  std::vector<double> lik_table_;           // softmax, M x N x K2, when small enough
  std::vector<double> prior_predictive_;    // N x K2
};

void ProtocolRun::check() const {
  if (R_ > kMaxRounds)
    throw std::invalid_argument("rounds must have at most " + std::to_string(kMaxRounds) +
                                " rounds per user, got " + std::to_string(R_));
  check_option_count(K_, "rounds");
  if (N_ > 0) check_option_count(K2_, "heldout");
  if (!in_.choices) return;
  for (std::size_t i = 0; i < in_.n_users * R_; ++i)
    if (in_.choices[i] < 0 || in_.choices[i] >= K_)
      throw std::invalid_argument(
          "choices must be option indices in [0, " + std::to_string(K_) + "); choices[" +
          std::to_string(i / R_) + ", " + std::to_string(i % R_) + "] is " +
          std::to_string(in_.choices[i]));
}

void ProtocolRun::prepare(Scratch& s) const {
  if (s.ready) return;
  s.ready = true;
  s.truth.assign(N_, 0);
  s.predictive.assign(N_ * K2_, 0.0);
  if (model_.kind == ChoiceKind::kDeterministic) {
    s.round_best.assign(M_, 0);
    s.first.assign(M_, 0);
    s.depth.assign(M_, 0);
    s.live.assign(M_, 0);
    s.stage_size.assign(R_ + 1, 0);
    s.tally.assign((R_ + 1) * N_ * (K2_ > 0 ? K2_ - 1 : 0), 0);
    s.touched.assign(R_ + 1, 0);
    s.counts.assign((R_ + 1) * N_ * K2_, 0);
    return;
  }
  s.log_posterior.assign(M_, 0.0);
  s.prob.assign(M_, 0.0);
  s.lik.assign(M_ * K_, 0.0);
  s.chosen_log_lik.assign(M_, 0.0);
  s.round_best.assign(M_, 0);
  s.lik_row.assign(N_ * K2_, 0.0);
  s.mass.assign(N_ * K2_, CompensatedSum{});
}

// Every hypothesis's choice on every held-out set, softmax likelihoods when they fit, and the
// predictive before any round.
void ProtocolRun::tabulate() {
  if (N_ == 0) return;
  const bool need_best = model_.kind != ChoiceKind::kSoftmax;
  const bool need_table = model_.kind == ChoiceKind::kSoftmax &&
                          M_ * N_ * K2_ <= kMaxLikelihoodTableBytes / sizeof(double);
  if (need_best) best_.resize(M_ * N_);
  if (need_table) lik_table_.resize(M_ * N_ * K2_);
  parallel_for(M_, kRowBlock, threads_, [&](int, std::size_t begin, std::size_t end) {
    if (need_best)
      for (std::size_t n = 0; n < N_; ++n)
        grid_.best_options(in_.heldout + n * K2_ * F_, K2_, begin, end, &best_[begin * N_ + n],
                           N_);
    if (need_table)
      for (std::size_t h = begin; h < end; ++h) softmax_row(h, &lik_table_[h * N_ * K2_]);
  });
  Scratch s;
  prepare(s);
  if (model_.kind == ChoiceKind::kDeterministic) {
    for (std::size_t h = 0; h < M_; ++h) s.first[h] = static_cast<std::uint32_t>(h);
    count_heldout(s, s.first.data(), nullptr, M_, 1);
    s.stage_size[0] = M_;
    heldout_from_counts(s, 0);
  } else {
    std::fill(s.prob.begin(), s.prob.end(), std::exp(-std::log(static_cast<double>(M_))));
    heldout_predictive(s);
  }
  prior_predictive_ = s.predictive;
}

void ProtocolRun::softmax_row(std::size_t h, double* out) const {
  std::vector<double> u(K2_), ll(K2_);
  const double* w = grid_.row(h);
  for (std::size_t n = 0; n < N_; ++n) {
    const double* x = in_.heldout + n * K2_ * F_;
    for (int k = 0; k < K2_; ++k) u[k] = dot(w, x + k * F_, F_);
    log_likelihood(model_, u.data(), K2_, ll.data());
    for (int k = 0; k < K2_; ++k) out[n * K2_ + k] = std::exp(ll[k]);
  }
}

int ProtocolRun::choice_of(std::size_t u, std::size_t r) const {
  if (in_.choices) return static_cast<int>(in_.choices[u * R_ + r]);
  const double* w = in_.user_weights + u * F_;
  const double* x = in_.rounds + (u * R_ + r) * K_ * F_;
  std::vector<double> utility(K_);
  for (int k = 0; k < K_; ++k) utility[k] = dot(w, x + k * F_, F_);
  return best_option(utility.data(), K_);
}

void ProtocolRun::round_outputs(std::size_t u, std::size_t r, const double* predictive) const {
  const std::size_t i = u * R_ + r;
  std::copy(predictive, predictive + K_, out_.round_predictive + i * K_);
  out_.round_recommendations[i] = recommend_from(predictive, K_);
}

// counts[d][n][k] for k < K2 - 1: how many of the listed hypotheses (rows) of depth d (0 for
// all when depth is null) choose option k on held-out set n. The rows' held-out choices are
// summed in byte counters, flushed every 255 rows, so the inner loop is a vectorised
// compare-and-add over the N sets.
void ProtocolRun::count_heldout(Scratch& s, const std::uint32_t* rows,
                                const std::uint16_t* depth, std::size_t n_rows,
                                std::size_t n_depths) const {
  const std::size_t N = N_;
  const std::size_t planes = static_cast<std::size_t>(K2_ - 1);
  std::fill(s.counts.begin(), s.counts.begin() + n_depths * N * K2_, 0u);
  const std::uint8_t* best = best_.data();
  constexpr std::size_t kAhead = 8;  // rows are scattered: fetch them early
  for (std::size_t start = 0; start < n_rows; start += 255) {
    const std::size_t stop = std::min(n_rows, start + 255);
    for (std::size_t i = start; i < stop; ++i) {
      if (i + kAhead < n_rows) {
        const std::uint8_t* ahead = best + static_cast<std::size_t>(rows[i + kAhead]) * N;
        for (std::size_t b = 0; b < N; b += 64) prefetch(ahead + b);
      }
      const std::size_t d = depth ? depth[i] : 0;
      if (!s.touched[d]) {
        s.touched[d] = 1;
        std::fill_n(s.tally.begin() + d * planes * N, planes * N, std::uint8_t{0});
      }
      const std::uint8_t* row = best + static_cast<std::size_t>(rows[i]) * N;
      std::uint8_t* tally = s.tally.data() + d * planes * N;
      for (std::size_t k = 0; k < planes; ++k, tally += N) {
        const std::uint8_t option = static_cast<std::uint8_t>(k);
        for (std::size_t n = 0; n < N; ++n)
          tally[n] = static_cast<std::uint8_t>(tally[n] + (row[n] == option));
      }
    }
    for (std::size_t d = 0; d < n_depths; ++d) {
      if (!s.touched[d]) continue;
      s.touched[d] = 0;
      const std::uint8_t* tally = s.tally.data() + d * planes * N;
      std::uint32_t* counts = s.counts.data() + d * N * K2_;
      for (std::size_t k = 0; k < planes; ++k)
        for (std::size_t n = 0; n < N; ++n) counts[n * K2_ + k] += tally[k * N + n];
    }
  }
}

// The predictive at one stage from its counts (the posterior is uniform on the survivors).
void ProtocolRun::heldout_from_counts(Scratch& s, std::size_t stage) const {
  const std::uint32_t* counts = s.counts.data() + stage * N_ * K2_;
  const std::size_t size = s.stage_size[stage];
  const double total = static_cast<double>(size);
  for (std::size_t n = 0; n < N_; ++n) {
    std::size_t rest = size;
    for (int k = 0; k + 1 < K2_; ++k) {
      rest -= counts[n * K2_ + k];
      s.predictive[n * K2_ + k] = counts[n * K2_ + k] / total;
    }
    s.predictive[n * K2_ + K2_ - 1] = static_cast<double>(rest) / total;
  }
}

// The held-out predictive of a softmax or epsilon belief with posterior s.prob, into
// s.predictive.
void ProtocolRun::heldout_predictive(Scratch& s) const {
  std::fill(s.mass.begin(), s.mass.end(), CompensatedSum{});
  const std::size_t NK = N_ * K2_;
  if (model_.kind == ChoiceKind::kEpsilon) {
    for (std::size_t h = 0; h < M_; ++h) {
      const std::uint8_t* row = &best_[h * N_];
      for (std::size_t n = 0; n < N_; ++n) s.mass[n * K2_ + row[n]].add(s.prob[h]);
    }
    const EpsilonLikelihoods e = epsilon_likelihoods(model_.epsilon, K2_);
    const double hit = e.hit, miss = e.miss;
    for (std::size_t n = 0; n < N_; ++n)
      for (int k = 0; k < K2_; ++k) {
        double others = 0.0;
        for (int j = 0; j < K2_; ++j) others += j == k ? 0.0 : s.mass[n * K2_ + j].sum;
        s.predictive[n * K2_ + k] = hit * s.mass[n * K2_ + k].sum + miss * others;
      }
    return;
  }
  for (std::size_t h = 0; h < M_; ++h) {
    const double* lik = s.lik_row.data();
    if (lik_table_.empty())
      softmax_row(h, s.lik_row.data());
    else
      lik = &lik_table_[h * NK];
    for (std::size_t j = 0; j < NK; ++j) s.mass[j].add(s.prob[h] * lik[j]);
  }
  for (std::size_t j = 0; j < NK; ++j) s.predictive[j] = s.mass[j].sum;
}

void ProtocolRun::heldout_outputs(Scratch& s, std::size_t u, std::size_t stage,
                                  const double* predictive) const {
  const std::size_t i = u * (R_ + 1) + stage;
  std::int64_t* rec = out_.heldout_recommendations + i * N_;
  std::size_t hits = 0;
  for (std::size_t n = 0; n < N_; ++n) {
    rec[n] = recommend_from(predictive + n * K2_, K2_);
    hits += rec[n] == s.truth[n] ? 1 : 0;
  }
  out_.heldout_accuracy[i] =
      N_ ? static_cast<double>(hits) / N_ : std::numeric_limits<double>::quiet_NaN();
  if (out_.heldout_predictive)
    std::copy(predictive, predictive + N_ * K2_, out_.heldout_predictive + i * N_ * K2_);
}

void ProtocolRun::run_user(Scratch& s, std::size_t u) {
  prepare(s);
  const double* w = in_.user_weights + u * F_;
  std::vector<double> utility(K2_);
  for (std::size_t n = 0; n < N_; ++n) {
    for (int k = 0; k < K2_; ++k) utility[k] = dot(w, in_.heldout + (n * K2_ + k) * F_, F_);
    s.truth[n] = best_option(utility.data(), K2_);
  }
  heldout_outputs(s, u, 0, prior_predictive_.data());
  if (model_.kind == ChoiceKind::kDeterministic)
    run_deterministic(s, u);
  else
    run_probabilistic(s, u);
}

// Round 1 runs over the whole grid; later rounds only over the survivors, each remembering
// how many rounds it survived; the held-out choices of all round-1 survivors are then counted
// in one pass, by depth, and stage r's counts are the sum over depths >= r.
void ProtocolRun::run_deterministic(Scratch& s, std::size_t u) {
  std::vector<double> utility(K_), predictive(K_);
  std::vector<std::size_t> counts(K_);
  std::size_t n_first = 0, n_live = 0;
  for (std::size_t r = 0; r < R_; ++r) {
    const double* x = in_.rounds + (u * R_ + r) * K_ * F_;
    const int c = choice_of(u, r);
    out_.choices[u * R_ + r] = c;
    std::fill(counts.begin(), counts.end(), 0);
    std::size_t kept = 0;
    if (r == 0) {
      grid_.best_options(x, K_, 0, M_, s.round_best.data(), 1);
      for (std::size_t h = 0; h < M_; ++h) {
        const int b = s.round_best[h];
        ++counts[b];
        s.first[kept] = static_cast<std::uint32_t>(h);  // kept only if b == c
        kept += b == c ? 1 : 0;
      }
      for (std::size_t i = 0; i < kept; ++i) {
        s.depth[i] = 1;
        s.live[i] = static_cast<std::uint32_t>(i);
      }
      n_first = kept;
    } else {
      const ScaledOptions scaled(grid_, x, K_);
      for (std::size_t i = 0; i < n_live; ++i) {  // kept never passes i: compact in place
        const std::uint32_t p = s.live[i];
        scaled.utilities(s.first[p], utility.data());
        const int b = best_option(utility.data(), K_);
        ++counts[b];
        if (b == c) {
          ++s.depth[p];
          s.live[kept++] = p;
        }
      }
    }
    const double alive = static_cast<double>(r == 0 ? M_ : n_live);
    for (int k = 0; k < K_; ++k) predictive[k] = static_cast<double>(counts[k]) / alive;
    round_outputs(u, r, predictive.data());
    if (kept == 0) throw ImpossibleObservation("", u, r);
    n_live = kept;
    s.stage_size[r + 1] = kept;
  }
  if (N_ > 0 && R_ > 0) {
    count_heldout(s, s.first.data(), s.depth.data(), n_first, R_ + 1);
    for (std::size_t d = R_; d-- > 1;) {
      std::uint32_t* counts_d = s.counts.data() + d * N_ * K2_;
      const std::uint32_t* deeper = counts_d + N_ * K2_;
      for (std::size_t j = 0; j < N_ * K2_; ++j) counts_d[j] += deeper[j];
    }
  }
  for (std::size_t r = 1; r <= R_; ++r) {
    if (N_ > 0) heldout_from_counts(s, r);
    heldout_outputs(s, u, r, s.predictive.data());
  }
}

// The reference's maths with fewer transcendental calls: the softmax likelihoods come from
// the exponentials that normalise them, the epsilon ones are two constants, and the posterior
// is exp(lp - top) / sum, the terms of its own normalisation. Each differs from the
// reference's exp(log(.)) by a few units in the last place.
void ProtocolRun::run_probabilistic(Scratch& s, std::size_t u) {
  std::vector<double>& lp = s.log_posterior;
  std::fill(lp.begin(), lp.end(), -std::log(static_cast<double>(M_)));
  std::fill(s.prob.begin(), s.prob.end(), std::exp(lp[0]));
  std::vector<CompensatedSum> mass(K_);
  std::vector<double> predictive(K_), z(K_);
  const EpsilonLikelihoods e = epsilon_likelihoods(model_.epsilon, K_);
  for (std::size_t r = 0; r < R_; ++r) {
    const double* x = in_.rounds + (u * R_ + r) * K_ * F_;
    const int c = choice_of(u, r);
    out_.choices[u * R_ + r] = c;
    double* lik = s.lik.data();
    double* chosen = s.chosen_log_lik.data();
    if (model_.kind == ChoiceKind::kSoftmax) {
      grid_.for_each_utilities(x, K_, 0, M_, [&](std::size_t h, const double* utilities) {
        double* row = lik + h * K_;
        const SoftmaxNorm norm =
            softmax(model_.beta, utilities, K_, z.data(), [row](int k, double e) { row[k] = e; });
        for (int k = 0; k < K_; ++k) row[k] /= norm.total;
        chosen[h] = z[c] - norm.log_norm();
      });
    } else {
      grid_.best_options(x, K_, 0, M_, s.round_best.data(), 1);
      for (std::size_t h = 0; h < M_; ++h) {
        const int b = s.round_best[h];
        for (int k = 0; k < K_; ++k) lik[h * K_ + k] = k == b ? e.hit : e.miss;
        chosen[h] = b == c ? e.log_hit : e.log_miss;
      }
    }
    mass.assign(K_, CompensatedSum{});
    for (std::size_t h = 0; h < M_; ++h)
      for (int k = 0; k < K_; ++k) mass[k].add(s.prob[h] * lik[h * K_ + k]);
    for (int k = 0; k < K_; ++k) predictive[k] = mass[k].sum;
    round_outputs(u, r, predictive.data());
    double top = -INFINITY;
    for (std::size_t h = 0; h < M_; ++h) {
      lp[h] += chosen[h];
      top = lp[h] > top ? lp[h] : top;
    }
    CompensatedSum total;
    for (std::size_t h = 0; h < M_; ++h) {
      s.prob[h] = std::exp(lp[h] - top);
      total.add(s.prob[h]);
    }
    const double log_norm = top + std::log(total.sum);
    for (std::size_t h = 0; h < M_; ++h) {
      lp[h] -= log_norm;
      s.prob[h] /= total.sum;
    }
    if (N_ > 0) heldout_predictive(s);
    heldout_outputs(s, u, r + 1, s.predictive.data());
  }
}

void ProtocolRun::run() {
  check();
  tabulate();
  const std::size_t U = in_.n_users;
  const std::size_t chunk =
      std::clamp<std::size_t>(U / (static_cast<std::size_t>(threads_) * 16), 1, 256);
  const std::size_t n_chunks = std::max<std::size_t>(1, (U + chunk - 1) / chunk);
  const int threads = static_cast<int>(std::min<std::size_t>(threads_, n_chunks));
  std::vector<Scratch> scratch(threads);
  std::mutex bad_mutex;
  std::size_t bad_user = std::numeric_limits<std::size_t>::max();
  std::size_t bad_round = 0;
  std::atomic<std::size_t> first_bad{bad_user};
  parallel_for(U, chunk, threads, [&](int thread, std::size_t begin, std::size_t end) {
    for (std::size_t u = begin; u < end && u < first_bad.load(); ++u) {
      try {
        run_user(scratch[thread], u);
      } catch (const ImpossibleObservation& e) {
        std::lock_guard<std::mutex> lock(bad_mutex);
        if (u < bad_user) {
          bad_user = u;
          bad_round = e.round();
          first_bad = u;
        }
      }
    }
  });
  if (bad_user == std::numeric_limits<std::size_t>::max()) return;
  const std::int64_t c = out_.choices[bad_user * R_ + bad_round];
  throw ImpossibleObservation(
      "choices[" + std::to_string(bad_user) + ", " + std::to_string(bad_round) + "]: user " +
          std::to_string(bad_user) + " chose option " + std::to_string(c) + " in round " +
          std::to_string(bad_round) +
          ", which no hypothesis left in the belief would choose under the deterministic model",
      bad_user, bad_round);
}

}  // namespace

void run_protocol(const Grid& grid, const ChoiceModel& model, const ProtocolInput& in,
                  const ProtocolOutput& out, int n_threads) {
  ProtocolRun(grid, model, in, out, n_threads).run();
}

}  // namespace bayesflight
