// MossNet Android demo: one app module; the pure-Kotlin core (../core) is compiled into it as
// sources, so the code tested on Linux (core/run_tests.sh) is the code that runs on the phone.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "MossNetDemo"
include(":app")
