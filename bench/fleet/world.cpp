#include "bench/fleet/world.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <utility>

namespace fleet {

struct World::Fiber {
  World* world = nullptr;
  std::function<void()> fn;
  ucontext_t context{};
  char* stack = nullptr;
  bool done = false;
};

namespace {

// A task group of fibers: join() blocks the joining fiber until the last task returns, wait_any()
// until the next one does.
class FiberGroup final : public agent::TaskGroup {
 public:
  explicit FiberGroup(World& world) : world_(world) {}
  ~FiberGroup() override { join(); }
  FiberGroup(const FiberGroup&) = delete;
  FiberGroup& operator=(const FiberGroup&) = delete;

  void spawn(std::function<void()> task) override {
    ++running_;
    world_.spawn([this, task = std::move(task)] {
      task();
      ++returned_;
      if (waiter_ != nullptr) world_.wake(std::exchange(waiter_, nullptr));
      if (--running_ == 0 && joiner_ != nullptr) world_.wake(std::exchange(joiner_, nullptr));
    });
  }

  void wait_any() override {
    if (returned_ == 0 && running_ > 0) {
      waiter_ = world_.current();
      if (waiter_ == nullptr) throw std::logic_error("fleet: wait_any outside a fiber");
      world_.block();
    }
    returned_ = 0;
  }

  void join() override {
    if (running_ == 0) return;
    joiner_ = world_.current();
    if (joiner_ == nullptr) throw std::logic_error("fleet: join outside a fiber");
    world_.block();
  }

 private:
  World& world_;
  int running_ = 0;
  int returned_ = 0;  // since the last wait_any
  World::Fiber* joiner_ = nullptr;
  World::Fiber* waiter_ = nullptr;
};

}  // namespace

World::World(ec2::TimePoint epoch, std::size_t stack_bytes)
    : epoch_(epoch), steady_epoch_(std::chrono::steady_clock::time_point{} + std::chrono::hours(24)),
      stack_bytes_(stack_bytes) {
  // Room for a million fibers' stacks, reserved only: a page is committed when a fiber touches it.
  arena_bytes_ = stack_bytes_ * (std::size_t{1} << 20) / 8;
  void* p = ::mmap(nullptr, arena_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("fleet: cannot reserve the fibers' stacks");
  arena_ = static_cast<char*>(p);
}

World::~World() {
  for (Fiber* f : live_) delete f;
  ::munmap(arena_, arena_bytes_);
}

std::chrono::system_clock::time_point World::now() const {
  return epoch_ + elapsed_;
}

std::chrono::steady_clock::time_point World::monotonic() const {
  return steady_epoch_ + elapsed_;
}

void World::sleep_for(std::chrono::milliseconds duration) {
  if (current_ == nullptr) throw std::logic_error("fleet: sleep outside a fiber");
  schedule(current_, elapsed_ + std::max(duration, Duration{0}));
  switch_out();
}

std::unique_ptr<agent::TaskGroup> World::group() {
  return std::make_unique<FiberGroup>(*this);
}

char* World::take_stack() {
  if (!free_stacks_.empty()) {
    char* s = free_stacks_.back();
    free_stacks_.pop_back();
    return s;
  }
  if (arena_used_ + stack_bytes_ > arena_bytes_) throw std::runtime_error("fleet: too many fibers at once");
  char* s = arena_ + arena_used_;
  arena_used_ += stack_bytes_;
  return s;
}

void World::give_back(char* stack) {
  free_stacks_.push_back(stack);
}

void World::spawn(std::function<void()> fn, Duration after) {
  auto* f = new Fiber{.world = this, .fn = std::move(fn)};
  f->stack = take_stack();
  ::getcontext(&f->context);
  f->context.uc_stack.ss_sp = f->stack;
  f->context.uc_stack.ss_size = stack_bytes_;
  f->context.uc_link = nullptr;
  const auto bits = reinterpret_cast<std::uintptr_t>(f);
  ::makecontext(&f->context, reinterpret_cast<void (*)()>(&World::entry), 2, static_cast<unsigned>(bits & 0xffffffffu),
                static_cast<unsigned>(bits >> 32));
  live_.insert(f);
  peak_fibers_ = std::max(peak_fibers_, live_.size());
  schedule(f, elapsed_ + after);
}

void World::entry(unsigned lo, unsigned hi) {
  auto* f = reinterpret_cast<Fiber*>((static_cast<std::uintptr_t>(hi) << 32) | lo);
  try {
    f->fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleet: a simulated task threw: %s\n", e.what());
    std::abort();
  }
  f->fn = nullptr;  // what it captured goes while the fiber still exists
  f->done = true;
  f->world->switch_out();
}

void World::schedule(Fiber* fiber, Duration at) {
  schedule_.push(Wake{.at = at, .seq = seq_++, .fiber = fiber});
}

void World::block() {
  if (current_ == nullptr) throw std::logic_error("fleet: block outside a fiber");
  switch_out();
}

void World::wake(Fiber* fiber) {
  schedule(fiber, elapsed_);
}

void World::switch_out() {
  Fiber* f = current_;
  ::swapcontext(&f->context, &main_);
}

void World::run() {
  while (!schedule_.empty()) {
    const Wake next = schedule_.top();
    schedule_.pop();
    elapsed_ = std::max(elapsed_, next.at);
    current_ = next.fiber;
    ++switches_;
    ::swapcontext(&main_, &next.fiber->context);
    current_ = nullptr;
    if (next.fiber->done) {
      give_back(next.fiber->stack);
      live_.erase(next.fiber);
      delete next.fiber;
    }
  }
  if (!live_.empty()) {
    throw std::runtime_error("fleet: " + std::to_string(live_.size()) + " simulated tasks wait on each other forever");
  }
}

}  // namespace fleet
