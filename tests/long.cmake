# Long soak/stress variants, run with `ctest -L long` (not part of the default CI run, whose
# tests carry the label "unit"). Included from CMakeLists.txt (OPTIONAL). Several engineers
# register tests here: keep each group in its own clearly marked block.

# ---- BEGIN soak (tests/tools_soak_test.cc): SIGKILL soak with concurrent snapshot readers ----
# 2000 kill/reopen cycles against the expected-state oracle (the CI run does 60). Override the
# workload with COWTREE_SOAK_SEED=<seed> to replay a failure; the seed is printed first.
add_test(NAME soak_long COMMAND tools_soak_test
         --gtest_filter=Soak.SigkillWithConcurrentSnapshotReadersMatchesOracle)
set_tests_properties(soak_long PROPERTIES
                     ENVIRONMENT COWTREE_SOAK_CYCLES=2000
                     LABELS long
                     TIMEOUT 7200)
# ---- END soak ----

# ---- CLI SIGKILL crash test, long variant (owner: tests/tools_crash_test.cc) ----
# 2000 kill cycles of `cowtree ingest --durability strict` on one store (CI runs 24).
if(TARGET tools_crash_test)
  add_test(NAME crash_kill_long COMMAND tools_crash_test)
  set_tests_properties(crash_kill_long PROPERTIES
    ENVIRONMENT "COWTREE_CRASH_CYCLES=2000"
    LABELS long
    TIMEOUT 7200)
endif()

# ---- BEGIN crash sweeps (tests/recovery_crash_sweep_test.cc, tests/recovery_io_error_test.cc) ----
# COWTREE_SWEEP_SCALE=long: 8 seeds per k for the seed-dependent crash models (instead of 2-3)
# and a second workload history (seed 2, scale 2) for both the crash-point sweep and the
# I/O-error loops. One ctest per crash model so that `ctest -L long -j N` runs them in parallel.
# Replay a failure with the COWTREE_SWEEP_REPLAY / COWTREE_IOERR_REPLAY line it prints.
foreach(model KeepAll DropUnsynced KeepRandomSubset TornLastWriteGarbage TornLastWriteZeros
              TornLastWrite)
  add_test(NAME crash_sweep_long_${model} COMMAND recovery_crash_sweep_test
           --gtest_filter=RecoveryCrashSweep.${model})
  set_tests_properties(crash_sweep_long_${model} PROPERTIES
                       ENVIRONMENT COWTREE_SWEEP_SCALE=long
                       LABELS long
                       TIMEOUT 7200)
endforeach()
foreach(loop FailEachOpOnce FailEachOpPersistently FailEachOpOnceWithNoSpace)
  add_test(NAME io_error_long_${loop} COMMAND recovery_io_error_test
           --gtest_filter=RecoveryIoError.${loop})
  set_tests_properties(io_error_long_${loop} PROPERTIES
                       ENVIRONMENT COWTREE_SWEEP_SCALE=long
                       LABELS long
                       TIMEOUT 7200)
endforeach()
# ---- END crash sweeps ----

# ---- BEGIN small trees (tests/recovery_small_trees_test.cc): 1 M trees of 1-10 entries ----
if(TARGET recovery_small_trees_test)
  add_test(NAME small_trees_1m COMMAND recovery_small_trees_test
           --gtest_filter=SmallTrees.InlineCheapLazyAndExact)
  set_tests_properties(small_trees_1m PROPERTIES
                       ENVIRONMENT COWTREE_SMALL_TREES=1000000
                       LABELS long
                       TIMEOUT 3600)
endif()
# ---- END small trees ----
# ---- Public API concurrency (tests/api_concurrency_test.cc) ----
# 20000 commits per committer with the checkpointer and snapshot readers (CI runs 150, also
# under TSan). Build with -fsanitize=thread to run it under TSan for longer.
if(TARGET api_concurrency_test)
  add_test(NAME api_concurrency_long COMMAND api_concurrency_test)
  set_tests_properties(api_concurrency_long PROPERTIES
    ENVIRONMENT "COWTREE_API_STRESS_COMMITS=20000"
    LABELS long
    TIMEOUT 3600)
endif()
