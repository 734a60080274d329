"""eval.environment: the instruction set a number ran on, beside the CPU's name."""

from llm_router.eval.environment import collect_environment, cpu_isa, describe_machine


def test_the_widest_level_names_the_cpu():
    assert cpu_isa({"sse4_2", "avx", "avx2", "fma"}) == "AVX2"
    assert cpu_isa({"avx2", "avx512f", "avx512bw"}) == "AVX-512"
    assert cpu_isa({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}) == "AVX-512 VNNI"
    assert cpu_isa({"avx2", "avx_vnni"}) == "AVX-VNNI"
    assert cpu_isa({"avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"}) == "AMX"
    assert cpu_isa({"sse2", "sse4_2"}) == "below AVX2"
    assert cpu_isa(set()) is None  # no /proc/cpuinfo: unknown, not "below"


def test_the_machine_line_carries_the_level_when_known():
    env = {"cpu": "AMD EPYC", "cpu_isa": "AVX2", "cores": 2, "ram_gb": 23.5, "gpu": None}
    assert describe_machine(env) == "AMD EPYC (AVX2), 2 cores, 23.5 GiB RAM, no GPU"
    assert describe_machine(env | {"cpu_isa": None}) == "AMD EPYC, 2 cores, 23.5 GiB RAM, no GPU"
    assert describe_machine({k: v for k, v in env.items() if k != "cpu_isa"}).startswith("AMD EPYC, ")


def test_the_environment_records_this_cpus_level():
    env = collect_environment()
    assert "cpu_isa" in env
    assert env["cpu_isa"] is None or env["cpu_isa"] in describe_machine(env)
