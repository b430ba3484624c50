#include "ensemble/wire/codec.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace ensemble::wire {
namespace {

Message sample() {
  Message message;
  message.identities = {"client-1"};
  message.header.msg_id = "m1";
  message.header.session = "s1";
  message.header.username = "alice";
  message.header.date = "2026-01-01T00:00:00.000000Z";
  message.header.msg_type = "execute_request";
  message.content = {{"code", "1+1"}};
  message.buffers = {std::string("\0\1\2", 3)};
  return message;
}

TEST(Codec, AHeaderIsWrittenAsItsJsonWouldDumpByteForByte) {
  Header plain{"id-1", "session-9", "user", "2026-11-26T07:00:00.000000Z", "execute_request"};
  EXPECT_EQ(plain.to_text(), plain.to_json().dump());
  Header empty;
  EXPECT_EQ(empty.to_text(), empty.to_json().dump());
  // anything that needs escaping, or is not ASCII, takes nlohmann's path
  Header odd{"a\"b", "back\\slash", "caf\xc3\xa9", "tab\there", "new\nline"};
  EXPECT_EQ(odd.to_text(), odd.to_json().dump());
  EXPECT_TRUE(Json::parse(odd.to_text()) == odd.to_json());
}

TEST(Codec, RoundTripsEveryPart) {
  Signer signer("k");
  Frames frames = encode(sample(), signer);
  ASSERT_EQ(frames.size(), 8u);
  EXPECT_EQ(frames[1], kDelimiter);
  auto decoded = decode(frames, signer, nullptr);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  const Message& message = decoded.value();
  EXPECT_EQ(message.identities, std::vector<std::string>{"client-1"});
  EXPECT_EQ(message.header.msg_type, "execute_request");
  EXPECT_EQ(message.header.username, "alice");
  EXPECT_EQ(message.content["code"], "1+1");
  EXPECT_EQ(message.buffers.at(0), std::string("\0\1\2", 3));
}

TEST(Codec, AParentWrittenOnceIsSentAsWrittenAndSignedWithTheRest) {
  Signer signer("k");
  Message reply = sample();
  Header request{"req-1", "s0", "bob", "2026-01-01T00:00:00.000000Z", "apply_request"};
  reply.parent_header = request.to_json();
  reply.parent_text = std::make_shared<const std::string>(request.to_text());
  Frames frames = encode(reply, signer);
  EXPECT_EQ(frames[4], *reply.parent_text);
  auto decoded = decode(frames, signer, nullptr);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded.value().parent_header, request.to_json());
  reply.parent_text.reset();
  EXPECT_EQ(encode(reply, signer)[4], frames[4]) << "the same bytes as dumping parent_header";
}

TEST(Codec, BadSignatureIsRefused) {
  Frames frames = encode(sample(), Signer("k"));
  auto decoded = decode(frames, Signer("other"), nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kBadSignature);
}

TEST(Codec, ReplayedMessageIsRefused) {
  Signer signer("k");
  ReplayGuard guard;
  Frames frames = encode(sample(), signer);
  EXPECT_TRUE(decode(frames, signer, &guard).ok());
  auto again = decode(frames, signer, &guard);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kReplayed);
}

TEST(Codec, MissingDelimiterIsMalformed) {
  auto decoded = decode({"a", "b", "c"}, Signer(""), nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kMalformed);
}

TEST(Codec, TooFewFramesIsMalformed) {
  auto decoded = decode({kDelimiter, "", "{}", "{}"}, Signer(""), nullptr);
  EXPECT_EQ(decoded.status().code(), StatusCode::kMalformed);
}

TEST(Codec, InvalidJsonIsMalformed) {
  Signer signer("");
  Frames frames = encode(sample(), signer);
  frames[5] = "{not json";
  auto decoded = decode(frames, signer, nullptr);
  EXPECT_EQ(decoded.status().code(), StatusCode::kMalformed);
}

TEST(Codec, HeaderWithoutMsgTypeIsMalformed) {
  Signer signer("");
  Frames frames = encode(sample(), signer);
  frames[3] = R"({"msg_id": "x", "session": "s"})";
  auto decoded = decode(frames, signer, nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("msg_type"), std::string::npos);
}

TEST(Codec, ContentThatIsNotAnObjectIsMalformed) {
  Signer signer("");
  Frames frames = encode(sample(), signer);
  frames[6] = "[1, 2]";
  EXPECT_EQ(decode(frames, signer, nullptr).status().code(), StatusCode::kMalformed);
}

TEST(Codec, OversizedMessageIsTooLargeButItsEnvelopeStillDecodes) {
  Signer signer("k");
  Message message = sample();
  message.content["code"] = std::string(4096, 'x');
  Frames frames = encode(message, signer);
  auto decoded = decode(frames, signer, nullptr, DecodeLimits{1024});
  EXPECT_EQ(decoded.status().code(), StatusCode::kTooLarge);
  auto envelope = decode_envelope(frames, signer);
  ASSERT_TRUE(envelope.ok());
  EXPECT_EQ(envelope.value().header.msg_id, "m1");
}

TEST(Codec, ReplyTypeReplacesRequestSuffix) {
  EXPECT_EQ(reply_type_for("execute_request"), "execute_reply");
  EXPECT_EQ(reply_type_for("comm_open"), "comm_open_reply");
}

}  // namespace
}  // namespace ensemble::wire
