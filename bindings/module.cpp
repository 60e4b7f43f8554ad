// pybind11 module bayesflight._core: thin wrappers over the C++ core. Shapes are checked here
// (so that no call can read out of bounds); the Python layer (bayesflight.belief) validates
// types and values first and gives the friendlier messages.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bayesflight/belief.hpp"
#include "bayesflight/errors.hpp"
#include "bayesflight/grid.hpp"
#include "bayesflight/protocol.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
namespace bf = bayesflight;

namespace {

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

std::string shape_text(const py::array& a) {
  std::string text = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) text += (d ? ", " : "") + std::to_string(a.shape(d));
  return text + (a.ndim() == 1 ? ",)" : ")");
}

// Throws std::invalid_argument unless `a` has `ndim` dimensions and its last one is `last`
// (when last >= 0).
void require(const py::array& a, const char* name, py::ssize_t ndim, py::ssize_t last,
             const char* expected) {
  if (a.ndim() != ndim || (last >= 0 && a.shape(ndim - 1) != last))
    throw std::invalid_argument(std::string(name) + " must have shape " + expected + ", got " +
                                shape_text(a));
}


bf::ChoiceModel model_of(const std::string& kind, double beta, double epsilon) {
  return bf::ChoiceModel::make(kind, beta, epsilon);
}

py::array_t<double> predictive(const bf::Belief& belief, const DoubleArray& options) {
  const int F = belief.grid().n_features();
  require(options, "options", 3, F, "(N, K, n_features)");
  bf::check_option_count(options.shape(1), "options");
  const int K = static_cast<int>(options.shape(1));
  py::array_t<double> out({options.shape(0), options.shape(1)});
  belief.predictive(options.data(), options.shape(0), K, out.mutable_data());
  return out;
}

py::array_t<std::int64_t> recommend(const bf::Belief& belief, const DoubleArray& options) {
  const int F = belief.grid().n_features();
  require(options, "options", 3, F, "(N, K, n_features)");
  bf::check_option_count(options.shape(1), "options");
  const int K = static_cast<int>(options.shape(1));
  py::array_t<std::int64_t> out(options.shape(0));
  belief.recommend(options.data(), options.shape(0), K, out.mutable_data());
  return out;
}

py::dict run_protocol(const std::shared_ptr<bf::Grid>& grid, const std::string& kind,
                      double beta, double epsilon, const DoubleArray& user_weights,
                      const DoubleArray& rounds, const std::optional<DoubleArray>& heldout,
                      const std::optional<IndexArray>& choices, bool want_predictive,
                      int n_threads) {
  const bf::ChoiceModel model = model_of(kind, beta, epsilon);
  const py::ssize_t F = grid->n_features();
  require(user_weights, "user_weights", 2, F, "(U, n_features)");
  const py::ssize_t U = user_weights.shape(0);
  require(rounds, "rounds", 4, F, "(U, R, K, n_features)");
  if (rounds.shape(0) != U)
    throw std::invalid_argument("rounds must have one row per user (" + std::to_string(U) +
                                "), got shape " + shape_text(rounds));
  const py::ssize_t R = rounds.shape(1);
  const py::ssize_t K = rounds.shape(2);
  bf::check_option_count(K, "rounds");
  py::ssize_t N = 0, K2 = 0;
  if (heldout) {
    require(*heldout, "heldout", 3, F, "(N, K, n_features)");
    N = heldout->shape(0);
    K2 = heldout->shape(1);
    if (N > 0) bf::check_option_count(K2, "heldout");
  }
  if (choices && (choices->ndim() != 2 || choices->shape(0) != U || choices->shape(1) != R))
    throw std::invalid_argument("choices must have shape (U, R) = (" + std::to_string(U) + ", " +
                                std::to_string(R) + "), got " + shape_text(*choices));
  bf::ProtocolInput in;
  in.n_users = U;
  in.n_rounds = R;
  in.n_options = static_cast<int>(K);
  in.n_heldout = N;
  in.n_heldout_options = static_cast<int>(K2);
  in.user_weights = user_weights.data();
  in.rounds = rounds.data();
  in.heldout = heldout ? heldout->data() : nullptr;
  in.choices = choices ? choices->data() : nullptr;
  py::array_t<std::int64_t> out_choices({U, R});
  py::array_t<double> round_predictive({U, R, K});
  py::array_t<std::int64_t> round_recommendations({U, R});
  py::array_t<std::int64_t> heldout_recommendations({U, R + 1, N});
  py::array_t<double> heldout_accuracy({U, R + 1});
  bf::ProtocolOutput out;
  out.choices = out_choices.mutable_data();
  out.round_predictive = round_predictive.mutable_data();
  out.round_recommendations = round_recommendations.mutable_data();
  out.heldout_recommendations = heldout_recommendations.mutable_data();
  out.heldout_accuracy = heldout_accuracy.mutable_data();
  py::object heldout_predictive = py::none();
  if (want_predictive) {
    py::array_t<double> p({U, R + 1, N, K2});
    out.heldout_predictive = p.mutable_data();
    heldout_predictive = p;
  }
  {
    py::gil_scoped_release release;
    bf::run_protocol(*grid, model, in, out, n_threads);
  }
  return py::dict("choices"_a = out_choices, "round_predictive"_a = round_predictive,
                  "round_recommendations"_a = round_recommendations,
                  "heldout_recommendations"_a = heldout_recommendations,
                  "heldout_accuracy"_a = heldout_accuracy,
                  "heldout_predictive"_a = heldout_predictive);
}

// For tests/test_core_grid.py: the utilities (end - begin, K) of rows [begin, end) on one
// option set (K, F) by one of the grid's paths ("dot", "for_each", "scaled"), or their
// deterministic choices by best_options (path "best_options", shape (end - begin,)).
py::array grid_path(const bf::Grid& grid, const DoubleArray& options, const std::string& path,
                    std::size_t begin, std::size_t end) {
  const int F = grid.n_features();
  require(options, "options", 2, F, "(K, n_features)");
  bf::check_option_count(options.shape(0), "options");
  if (begin > end || end > grid.size())
    throw std::invalid_argument("begin and end must satisfy begin <= end <= " +
                                std::to_string(grid.size()));
  const int K = static_cast<int>(options.shape(0));
  const double* x = options.data();
  const auto n = static_cast<py::ssize_t>(end - begin);
  if (path == "best_options") {
    py::array_t<std::uint8_t> out(n);
    grid.best_options(x, K, begin, end, out.mutable_data(), 1);
    return out;
  }
  py::array_t<double> out({n, static_cast<py::ssize_t>(K)});
  double* u = out.mutable_data();
  if (path == "dot") {
    for (std::size_t h = begin; h < end; ++h)
      for (int k = 0; k < K; ++k) u[(h - begin) * K + k] = bf::dot(grid.row(h), x + k * F, F);
  } else if (path == "for_each") {
    grid.for_each_utilities(x, K, begin, end, [&](std::size_t h, const double* row) {
      std::copy(row, row + K, u + (h - begin) * K);
    });
  } else if (path == "scaled") {
    const bf::ScaledOptions scaled(grid, x, K);
    for (std::size_t h = begin; h < end; ++h) scaled.utilities(h, u + (h - begin) * K);
  } else {
    throw std::invalid_argument("path must be 'dot', 'for_each', 'scaled' or 'best_options', "
                                "got '" + path + "'");
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "The C++ core of bayesflight: exact Bayesian inference over a hypothesis grid.";
  m.attr("UTILITY_TIE_TOL") = bf::kUtilityTieTol;
  m.attr("PROBABILITY_TIE_TOL") = bf::kProbabilityTieTol;
  m.attr("MIN_OPTIONS") = bf::kMinOptions;
  m.attr("MAX_OPTIONS") = bf::kMaxOptions;
  m.attr("MAX_GRID_ROWS") = bf::kMaxGridRows;

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const bf::ImpossibleObservation& e) {
      py::object error =
          py::module_::import("bayesflight.reference").attr("ImpossibleObservationError");
      PyErr_SetString(error.ptr(), e.what());
    }
  });

  py::class_<bf::Grid, std::shared_ptr<bf::Grid>>(m, "Grid")
      .def(py::init<int, std::vector<double>>(), "n_features"_a, "levels"_a)
      .def("__len__", &bf::Grid::size)
      .def_property_readonly("n_features", &bf::Grid::n_features)
      .def_property_readonly("levels", &bf::Grid::levels)
      .def_property_readonly("weights", [](py::object self) {
        const auto& grid = self.cast<const bf::Grid&>();
        const py::ssize_t F = grid.n_features();
        return py::array_t<double>({static_cast<py::ssize_t>(grid.size()), F},
                                   {F * static_cast<py::ssize_t>(sizeof(double)),
                                    static_cast<py::ssize_t>(sizeof(double))},
                                   grid.weights(), self);
      });

  py::class_<bf::Belief>(m, "Belief")
      .def(py::init([](const std::shared_ptr<bf::Grid>& grid, const std::string& kind,
                       double beta, double epsilon, const std::optional<DoubleArray>& prior) {
             const bf::ChoiceModel model = model_of(kind, beta, epsilon);
             if (!prior) return bf::Belief(grid, model);
             if (prior->ndim() != 1 || prior->shape(0) != static_cast<py::ssize_t>(grid->size()))
               throw std::invalid_argument("prior must have shape (" +
                                           std::to_string(grid->size()) + ",), got " +
                                           shape_text(*prior));
             return bf::Belief(grid, model, prior->data());
           }),
           "grid"_a, "kind"_a, "beta"_a, "epsilon"_a, "prior"_a)
      .def(
          "update",
          [](bf::Belief& belief, const DoubleArray& options, int choice) {
            require(options, "options", 2, belief.grid().n_features(), "(K, n_features)");
            bf::check_option_count(options.shape(0), "options");
            const int K = static_cast<int>(options.shape(0));
            belief.update(options.data(), K, choice);
          },
          "options"_a, "choice"_a)
      .def("predictive", &predictive, "options"_a)
      .def("recommend", &recommend, "options"_a)
      .def("log_posterior",
           [](const bf::Belief& belief) {
             const auto& lp = belief.log_posterior();
             return py::array_t<double>(static_cast<py::ssize_t>(lp.size()), lp.data());
           })
      .def("entropy", &bf::Belief::entropy)
      .def("posterior_mean",
           [](const bf::Belief& belief) {
             py::array_t<double> out(belief.grid().n_features());
             belief.posterior_mean(out.mutable_data());
             return out;
           })
      .def("copy", [](const bf::Belief& belief) { return bf::Belief(belief); });

  m.def("run_protocol", &run_protocol, "grid"_a, "kind"_a, "beta"_a, "epsilon"_a,
        "user_weights"_a, "rounds"_a, "heldout"_a, "choices"_a, "want_predictive"_a,
        "n_threads"_a,
        "Runs the evaluation protocol for many users at once (GIL released); returns a dict.");
  m.def("_grid_path", &grid_path, "grid"_a, "options"_a, "path"_a, "begin"_a, "end"_a,
        "For the tests: utilities or choices of a range of rows by one of the grid's paths.");
}
