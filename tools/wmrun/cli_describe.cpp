#include "cli_describe.hpp"

#include <cstdio>

namespace wmrun::cli {

namespace {

OrderedJson describe_option(const CLI::Option& o) {
    OrderedJson names = OrderedJson::array();
    for (const auto& s : o.get_snames()) names.push_back("-" + s);
    for (const auto& l : o.get_lnames()) names.push_back("--" + l);
    OrderedJson out{{"names", names}, {"description", o.get_description()}};
    // A flag takes no value; an option's value is named by its type ("TEXT", "INT").
    out["value"] = o.get_type_size() == 0 ? "" : o.get_type_name();
    out["default"] = o.get_default_str();
    out["required"] = o.get_required();
    out["repeatable"] = o.get_expected_max() > 1 || o.get_multi_option_policy() ==
                                                         CLI::MultiOptionPolicy::TakeAll;
    return out;
}

OrderedJson describe_argument(const CLI::Option& o) {
    return OrderedJson{{"name", o.get_name()},
                       {"description", o.get_description()},
                       {"required", o.get_required()},
                       {"many", o.get_expected_max() > 1}};
}

}  // namespace

OrderedJson describe_cli(const CLI::App& app) {
    OrderedJson out{{"name", app.get_name()}, {"description", app.get_description()}};
    if (!app.get_footer().empty()) out["footer"] = app.get_footer();
    OrderedJson options = OrderedJson::array(), arguments = OrderedJson::array();
    for (const CLI::Option* o : app.get_options()) {
        if (o->get_group().empty()) continue;  // hidden
        if (o->nonpositional())
            options.push_back(describe_option(*o));
        else
            arguments.push_back(describe_argument(*o));
    }
    out["options"] = options;
    out["arguments"] = arguments;
    OrderedJson commands = OrderedJson::array();
    for (const CLI::App* sub : app.get_subcommands({})) {
        if (sub->get_group().empty()) continue;
        commands.push_back(describe_cli(*sub));
    }
    out["commands"] = commands;
    return out;
}

void add_describe_command(CLI::App& app) {
    CLI::App* sub = app.add_subcommand("__describe-cli", "print the command line as JSON");
    sub->group("");
    sub->callback([&app] {
        std::string text = describe_cli(app).dump(2) + "\n";
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::exit(0);
    });
}

}  // namespace wmrun::cli
