#include "agent/core/services.h"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace agent {
namespace {

class ThreadGroup final : public TaskGroup {
 public:
  ~ThreadGroup() override { join(); }
  void spawn(std::function<void()> task) override {
    {
      std::lock_guard lock(mutex_);
      ++running_;
    }
    threads_.emplace_back([this, task = std::move(task)] {
      task();
      {
        std::lock_guard lock(mutex_);
        --running_;
        ++returned_;
      }
      returned_cv_.notify_all();
    });
  }
  void join() override { threads_.clear(); }  // each jthread joins as it goes
  void wait_any() override {
    std::unique_lock lock(mutex_);
    returned_cv_.wait(lock, [this] { return returned_ > 0 || running_ == 0; });
    returned_ = 0;
  }

 private:
  std::mutex mutex_;
  std::condition_variable returned_cv_;
  int running_ = 0;
  int returned_ = 0;  // since the last wait_any
  std::vector<std::jthread> threads_;  // last: joined before the members the tasks use go
};

class ThreadTasks final : public Tasks {
 public:
  [[nodiscard]] std::unique_ptr<TaskGroup> group() override { return std::make_unique<ThreadGroup>(); }
};

}  // namespace

Tasks& thread_tasks() {
  static ThreadTasks tasks;
  return tasks;
}

ec2::Waiter Services::waiter(std::chrono::seconds timeout) const {
  auto o = options.waiter;
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  return ec2::Waiter(o, clock, sleeper, random);
}

Services Services::with_ec2(ec2::Ec2Api& other) const {
  return Services{.ec2 = other,
                  .devices = devices,
                  .mounter = mounter,
                  .freeze_ops = freeze_ops,
                  .clock = clock,
                  .sleeper = sleeper,
                  .random = random,
                  .guardians = guardians,
                  .hooks = hooks,
                  .regions = regions,
                  .options = options,
                  .tasks = tasks};
}

RunReport new_report(std::string command, const RunContext& context) {
  std::vector<std::string> names;
  for (const auto* g : context.groups) names.push_back(g->name);
  auto report = new_report(std::move(command), context.services.options.dry_run, names);
  report.region = context.instance.region;
  return report;
}

}  // namespace agent
