# A fake libnvidia-ml.so.1 in several variants (each leaves out the symbols an older driver
# lacks), one directory per variant: <build>/tests/fake_nvml/<variant>/libnvidia-ml.so.1.
# Included from tests/CMakeLists.txt after memopt_tests is defined.
set(MEMOPT_FAKE_NVML_DIR ${CMAKE_CURRENT_BINARY_DIR}/fake_nvml)
set(memopt_fake_nvml_variants
  full            ""
  no_v3           FAKE_NVML_NO_V3
  no_memory_v2    FAKE_NVML_NO_MEMORY_V2
  v1_only         FAKE_NVML_V1_ONLY)

while(memopt_fake_nvml_variants)
  list(POP_FRONT memopt_fake_nvml_variants variant definition)
  set(target memopt_fake_nvml_${variant})
  add_library(${target} SHARED ${CMAKE_CURRENT_SOURCE_DIR}/nvml/fake_nvml.c)
  if(definition)
    target_compile_definitions(${target} PRIVATE ${definition})
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "nvidia-ml"
    SUFFIX ".so.1"
    LIBRARY_OUTPUT_DIRECTORY ${MEMOPT_FAKE_NVML_DIR}/${variant})
  add_dependencies(memopt_tests ${target})
endwhile()


# A fake CUDA driver, <build>/tests/fake_cuda/libcuda.so.1 with the soname libcuda.so.1, so that
# dlopen("libcuda.so.1", RTLD_NOLOAD) finds it once a test has loaded it by path.
add_library(memopt_fake_cuda SHARED ${CMAKE_CURRENT_SOURCE_DIR}/nvml/fake_cuda.c)
set_target_properties(memopt_fake_cuda PROPERTIES
  PREFIX "lib"
  OUTPUT_NAME "cuda"
  SUFFIX ".so.1"
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fake_cuda)
add_dependencies(memopt_tests memopt_fake_cuda)
