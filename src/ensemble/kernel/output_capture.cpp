#include "ensemble/kernel/output_capture.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "ensemble/wire/thread_name.hpp"

namespace ensemble::kernel {

namespace {

// The length of the UTF-8 sequence `lead` starts, or 0 if it cannot start one.
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Whether bytes[at, at + length) is one valid sequence (no overlong forms, no surrogates).
bool valid_sequence(std::string_view bytes, std::size_t at, std::size_t length) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[at + i]); };
  for (std::size_t i = 1; i < length; ++i) {
    if (!is_continuation(byte(i))) return false;
  }
  if (length == 3) {
    if (byte(0) == 0xE0 && byte(1) < 0xA0) return false;
    if (byte(0) == 0xED && byte(1) >= 0xA0) return false;
  } else if (length == 4) {
    if (byte(0) == 0xF0 && byte(1) < 0x90) return false;
    if (byte(0) == 0xF4 && byte(1) >= 0x90) return false;
  }
  return true;
}

struct Captured {
  const char* name;
  int target;            // 1 or 2
  int original = -1;     // a copy of the descriptor as it was
  int read_end = -1;
  std::string held;      // the start of a UTF-8 sequence whose rest has not come yet
};

}  // namespace

std::size_t complete_utf8_prefix(std::string_view bytes) {
  // Only the last three bytes can begin a sequence that is not finished yet.
  std::size_t size = bytes.size();
  for (std::size_t back = 1; back <= 3 && back <= size; ++back) {
    auto byte = static_cast<unsigned char>(bytes[size - back]);
    if (is_continuation(byte)) continue;
    std::size_t length = sequence_length(byte);
    return length > back ? size - back : size;
  }
  return size;
}

std::string valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::size_t length = sequence_length(static_cast<unsigned char>(bytes[at]));
    if (length != 0 && at + length <= bytes.size() && valid_sequence(bytes, at, length)) {
      out.append(bytes.substr(at, length));
      at += length;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++at;
    }
  }
  return out;
}

struct OutputCapture::Impl {
  Sink sink;
  std::array<Captured, 2> streams{{{"stdout", STDOUT_FILENO}, {"stderr", STDERR_FILENO}}};
  int wake_read = -1;
  int wake_write = -1;
  std::mutex reading;  // one reader at a time: the thread or drain()
  std::jthread reader;

  void read_available(Captured& stream) {
    std::array<char, 65536> buffer;  // filled by read(): not zeroed first
    for (;;) {
      ssize_t got = ::read(stream.read_end, buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      stream.held.append(buffer.data(), static_cast<std::size_t>(got));
    }
    std::size_t complete = complete_utf8_prefix(stream.held);
    if (complete == 0) return;
    std::string text = valid_utf8(std::string_view(stream.held).substr(0, complete));
    stream.held.erase(0, complete);
    sink(stream.name, text);
  }

  void read_loop(const std::stop_token& stop) {
    wire::name_this_thread("fd-capture");
    std::array<pollfd, 3> fds{{{streams[0].read_end, POLLIN, 0}, {streams[1].read_end, POLLIN, 0}, {wake_read, POLLIN, 0}}};
    while (!stop.stop_requested()) {
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        spdlog::error("output capture: poll failed: {}", std::strerror(errno));
        return;
      }
      if (fds[2].revents != 0) return;
      std::lock_guard lock(reading);
      for (std::size_t i = 0; i < 2; ++i) {
        if (fds[i].revents != 0) read_available(streams[i]);
      }
    }
  }
};

std::unique_ptr<OutputCapture> OutputCapture::start(Sink sink) {
  auto impl = std::make_unique<Impl>();
  impl->sink = std::move(sink);
  std::array<int, 2> wake{};
  if (::pipe2(wake.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
    spdlog::warn("output capture: no pipe ({}); C-level output stays on the kernel's own stdout", std::strerror(errno));
    return nullptr;
  }
  impl->wake_read = wake[0];
  impl->wake_write = wake[1];
  std::array<std::array<int, 2>, 2> pipes{{{-1, -1}, {-1, -1}}};
  for (auto& p : pipes) {
    if (::pipe2(p.data(), O_CLOEXEC) != 0) {
      spdlog::warn("output capture: no pipe ({}); C-level output stays on the kernel's own stdout",
                   std::strerror(errno));
      for (int fd : {wake[0], wake[1], pipes[0][0], pipes[0][1]}) {
        if (fd >= 0) ::close(fd);
      }
      return nullptr;
    }
  }
  std::fflush(nullptr);
  for (std::size_t i = 0; i < 2; ++i) {
    Captured& stream = impl->streams[i];
    stream.original = ::fcntl(stream.target, F_DUPFD_CLOEXEC, 3);
    // The descriptor itself (not a copy) becomes the pipe: child processes inherit it.
    ::dup2(pipes[i][1], stream.target);
    ::close(pipes[i][1]);
    stream.read_end = pipes[i][0];
    ::fcntl(stream.read_end, F_SETFL, ::fcntl(stream.read_end, F_GETFL) | O_NONBLOCK);
  }
  Impl* raw = impl.get();
  impl->reader = std::jthread([raw](std::stop_token stop) { raw->read_loop(stop); });
  return std::unique_ptr<OutputCapture>(new OutputCapture(std::move(impl)));
}

OutputCapture::OutputCapture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OutputCapture::~OutputCapture() {
  drain();
  impl_->reader.request_stop();
  char byte = 0;
  (void)!::write(impl_->wake_write, &byte, 1);
  if (impl_->reader.joinable()) impl_->reader.join();
  std::fflush(nullptr);
  for (Captured& stream : impl_->streams) {
    if (stream.original >= 0) {
      ::dup2(stream.original, stream.target);
      ::close(stream.original);
    }
    ::close(stream.read_end);
  }
  ::close(impl_->wake_read);
  ::close(impl_->wake_write);
}

void OutputCapture::drain() {
  std::fflush(nullptr);
  // The lock first: the reader thread may hold text it has read but not yet handed on.
  std::lock_guard lock(impl_->reading);
  // Then one system call when nothing is waiting, as after most engine tasks.
  std::array<pollfd, 2> fds{{{impl_->streams[0].read_end, POLLIN, 0}, {impl_->streams[1].read_end, POLLIN, 0}}};
  if (::poll(fds.data(), fds.size(), 0) <= 0) return;
  for (std::size_t i = 0; i < 2; ++i) {
    if (fds[i].revents != 0) impl_->read_available(impl_->streams[i]);
  }
}

}  // namespace ensemble::kernel
