// `sqlx::migrate!` embeds `migrations/` when this crate compiles, but cargo
// does not know it reads that folder: without this, a new migration file
// would leave an already built crate applying the old list.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
