# keytrim in a container: built with the Rust image, run from a minimal base that has
# CA certificates and glibc (distroless "cc"), as the non-root user 65532 (distroless's
# "nonroot"). The README shows `docker run` with credentials from the environment or a
# mounted profile.
#   docker build -t keytrim .
#   docker build --build-arg KEYTRIM_GIT_COMMIT="$(git rev-parse --short=12 HEAD)" -t keytrim .

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The manifest and lock file first, so the dependencies' layer is reused while only
# keytrim's own code changes.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin keytrim \
    && rm -rf src
COPY src ./src
# The image has no .git: the commit, when wanted, comes in as a build argument.
ARG KEYTRIM_GIT_COMMIT=""
ENV KEYTRIM_GIT_COMMIT=${KEYTRIM_GIT_COMMIT}
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin keytrim \
    && ./target/release/keytrim --version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/keytrim /usr/local/bin/keytrim
# Plans and journals go to the working directory: mount one at /work.
WORKDIR /work
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keytrim"]
CMD ["--help"]
